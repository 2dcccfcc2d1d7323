"""The credit wing: what tokens cost, what each account holds, and the plan to spend grants before they expire.

Read bottom-up: ``pricing`` (the money model) → ``ledger`` / ``ledger_redis`` (every served request booked once)
and ``balances`` (vendor balance polls) → ``plan`` (the plan's data, all the request path reads) →
``forecast`` (a route's demand from its hourly traffic) → ``horizon`` (slots per path and band, grants to plan)
→ ``schedule`` (the LP's inputs and outputs) and ``lp`` (HiGHS, loaded only by the planner's worker) →
``planner`` (snapshot → plan) → ``report`` (the plan as JSON). Beside it, tools that never serve a request:
``trace`` (a demand trace), ``bound`` (the offline optimum of one), ``replay`` / ``replay_report`` (a trace from
the gateway's own logs, and what each strategy would have paid); the simulation that drives the router's
strategies over a trace sits above the router, in :mod:`balancer.sim`.
"""
