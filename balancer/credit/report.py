"""The plan rendered as JSON: "will we burn our credits in time, and what will we pay after?"

The same document for ``balancer plan --config F`` and ``GET /admin/plan`` (the plan comes from
:func:`balancer.credit.planner.replan`): each grant's remaining amount, expiry, projected exhaustion, projected
waste, the burn rate planned for this hour and its value (what one more unit would save as the plan prices it:
near the paid price it displaces when it runs short, 0 when some will be left over); the projected paid spend per
day and per provider in each period between grant deadlines; balances and spend so far; the
traffic forecast. Money in CNY (the ledger's µ¥ / 1e6); times as ISO 8601 UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from balancer.credit.ledger import Snapshot
from balancer.credit.plan import Plan
from balancer.credit.pricing import MICRO, Grant, value_unit


def iso(t: float | None) -> str | None:
    if t is None or t == float("inf"):
        return None
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _amount(unit: str, value: float) -> dict[str, Any]:
    return {"tokens": round(value)} if unit == "tokens" else {"cny": round(value / MICRO, 2)}


def report(plan: Plan, snap: Snapshot) -> dict[str, Any]:
    """The plan document (plain JSON types)."""
    grants = []
    for o in plan.grants:
        g = o.grant
        grants.append(
            {
                **_grant(g, o.remaining),
                "projected_exhaustion": iso(o.exhausted_at),
                "projected_waste": _amount(g.unit, o.waste),
                "at_risk": o.waste > 0,
                "planned_tokens_per_hour": round(o.share_now),
                "value": _value(g.unit, o.value),
            }
        )
    done = {o.grant.key for o in plan.grants}
    for b in snap.grants:  # used up or expired: nothing left to plan
        if b.grant.key not in done:
            status = "exhausted" if b.remaining <= 0 else "expired or unused by any route"
            grants.append({**_grant(b.grant, b.remaining), "status": status})
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


def _value(unit: str, micro_per_unit: float) -> dict[str, float]:
    """What one more unit of a grant saves, as the plan prices it: ¥ per million tokens, or ¥ per ¥ of a voucher."""
    return {value_unit(unit): round(micro_per_unit, 3)}


def _grant(g: Grant, remaining: int) -> dict[str, Any]:
    return {
        "provider": g.provider,
        "grant": g.name,
        "unit": g.unit,
        "models": sorted(g.models),
        "size": _amount(g.unit, g.size),
        "remaining": _amount(g.unit, remaining),
        "expires": iso(g.expires),
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
