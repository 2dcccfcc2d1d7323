"""The credit wing: what tokens cost, what each account holds, and the plan to spend grants before they expire.

Read bottom-up: ``pricing`` (the money model) → ``ledger`` / ``ledger_redis`` (every served request booked once)
and ``balances`` (vendor balance polls) → ``plan`` (the plan's data, all the request path reads) →
``horizon`` (slots, forecast, grants to plan) → ``schedule`` (the LP's inputs and outputs) and ``lp`` (HiGHS,
loaded only by the planner's worker) → ``planner`` (snapshot → plan) → ``report`` (the plan as JSON).
"""
