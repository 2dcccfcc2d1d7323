"""The plan as JSON: "will we burn our credits in time, and what will we pay after?"

The same document for ``balancer plan --config F`` and ``GET /admin/plan``: each grant's remaining amount,
expiry, projected exhaustion, projected waste and the burn rate planned for this hour; the projected paid
spend per day and per provider in each period between grant deadlines; balances and spend so far; the
traffic forecast. Money in CNY (the ledger's µ¥ / 1e6); times as ISO 8601 UTC.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from balancer.config import Planning
from balancer.ledger import AccountBook, Ledger, Snapshot
from balancer.planner import Plan, make_plan
from balancer.pricing import MICRO
from balancer.router import CompiledRoute
from balancer.schedule import Warm


def iso(t: float | None) -> str | None:
    if t is None or t == float("inf"):
        return None
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _amount(unit: str, value: float) -> dict[str, Any]:
    return {"tokens": round(value)} if unit == "tokens" else {"cny": round(value / MICRO, 2)}


def report(plan: Plan, snap: Snapshot) -> dict[str, Any]:
    """The plan document (plain JSON types)."""
    sizes = {(g.provider, g.name): g for g in snap.grants}
    grants = []
    for g in plan.grants:
        st = sizes.get((g.provider, g.name))
        grants.append(
            {
                "provider": g.provider,
                "grant": g.name,
                "unit": g.unit,
                "models": st.models if st else [],
                "size": _amount(g.unit, st.size if st else 0),
                "remaining": _amount(g.unit, g.remaining),
                "expires": iso(g.expires),
                "projected_exhaustion": iso(g.exhausted_at),
                "projected_waste": _amount(g.unit, g.waste),
                "at_risk": g.waste > 0,
                "planned_tokens_per_hour": round(g.share_now),
            }
        )
    done = {(g.provider, g.name) for g in plan.grants}
    for st in snap.grants:  # used up or expired: nothing left to plan
        if (st.provider, st.name) not in done:
            grants.append(
                {
                    "provider": st.provider,
                    "grant": st.name,
                    "unit": st.unit,
                    "models": st.models,
                    "size": _amount(st.unit, st.size),
                    "remaining": _amount(st.unit, st.remaining),
                    "expires": iso(st.expires),
                    "status": "exhausted" if st.remaining <= 0 else "expired or unused by any route",
                }
            )
    return {
        "generated_at": iso(plan.made_at),
        "planner": plan.status,  # the solver's verdict: "optimal", or why the plan fell back to price order
        "grants": grants,
        "paid_per_day": [_period(a, b, spend) for a, b, spend in plan.paid],
        "paid_balance_cny": _cny(snap.paid_remaining),
        "paid_today_cny": _cny(snap.paid_today),
        "paid_this_month_cny": _cny(snap.paid_month),
        "traffic_forecast_tokens_per_day": {r: round(v) for r, v in plan.demand.items()},
        "projected_unserved_tokens": round(plan.unserved),  # demand beyond every candidate's limits
    }


def _period(a: float, b: float, spend: Mapping[str, float]) -> dict[str, Any]:
    return {
        "from": iso(a),
        "to": iso(b),
        "total_cny": round(sum(spend.values()) / MICRO, 2),
        "providers": {p: round(v / MICRO, 2) for p, v in sorted(spend.items()) if v},
    }


def _cny(values: Mapping[str, int]) -> dict[str, float]:
    return {p: round(v / MICRO, 2) for p, v in sorted(values.items())}


async def document(
    routes: Mapping[str, CompiledRoute],
    books: Mapping[str, AccountBook],
    ledger: Ledger,
    planning: Planning,
    now: float,
    rates: Mapping[str, float] | None = None,
    down: frozenset[str] = frozenset(),
    warm: Warm | None = None,
) -> tuple[Plan, dict[str, Any]]:
    """Plan from the ledger now and render it; ``rates`` (route -> tokens/hour) stands in for traffic history,
    ``down`` names the candidates (provider/model) unavailable now. The solve runs in a worker thread (HiGHS
    releases the GIL): milliseconds from a warm basis, ~0.1 s cold, never on the event loop."""
    snap = await ledger.snapshot(now)
    if rates:
        hour = int(now // 3600)
        for route, rate in rates.items():
            snap.traffic[route] = {h: round(rate) for h in range(hour - 24, hour)}
            snap.traffic[route][hour] = round(rate * (now / 3600 % 1.0))  # this hour so far, at the same rate
    plan = await asyncio.to_thread(
        make_plan, routes, books, snap, now, planning.safety_margin, planning.horizon_days, down, warm
    )
    return plan, report(plan, snap)
