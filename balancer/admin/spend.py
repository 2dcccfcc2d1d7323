"""The admin API's views of money: spend per client key/route/provider/day, each grant's burn-down against the
plan in force, and a client key as operators see it (with its spend). Read from the ledger's books (cluster-wide
with Redis), off the request path.
"""

from __future__ import annotations

import datetime as dt
import math

from balancer.admin import types as T
from balancer.clients import KeyRecord
from balancer.credit.ledger import History, Row
from balancer.credit.pricing import MICRO, day_key
from balancer.errors import GatewayError
from balancer.gateway import Gateway
from balancer.state.batch import Unreadable

DIMENSIONS = ("day", "key", "route", "provider")
HISTORY_DAYS = 30


def _day(stamp: str) -> str:
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}"


def _when(t: float | None) -> dt.datetime | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC)


def key_view(gw: Gateway, r: KeyRecord) -> T.KeyView:
    today, month = gw.ledger.client_spent(r.name, gw.clock())
    return T.KeyView(
        name=r.name, source="config" if r.source == "config" else "api", routes=list(r.routes), limits=r.limits,
        daily_budget=r.daily_budget, monthly_budget=r.monthly_budget, expires=_when(r.expires),
        created=_when(r.created), transcripts=r.transcripts, spent_today_cny=today / MICRO,
        spent_month_cny=month / MICRO,
    )  # fmt: skip


async def spend(gw: Gateway, q: T.SpendQuery) -> T.Spend:
    by = [d.strip() for d in q.by.split(",") if d.strip()]
    bad = [d for d in by if d not in DIMENSIONS]
    if bad:
        raise GatewayError(
            400, f"Unknown dimension '{bad[0][:40]}' in 'by'; use any of: {', '.join(DIMENSIONS)}.",
            code="invalid_query", param="by",
        )  # fmt: skip
    now = gw.clock()
    history = await _books(gw, now, q.days)
    groups: dict[tuple[str | None, ...], T.SpendRow] = {}
    total = T.SpendRow()
    for r in history.clients:
        if not _selected(q, r.client, r.route, r.provider):
            continue
        values = {"day": _day(r.day), "key": r.client, "route": r.route, "provider": r.provider}
        group = tuple(values[d] if d in by else None for d in DIMENSIONS)
        row = groups.get(group)
        if row is None:
            day, key, route, provider = group
            row = groups[group] = T.SpendRow(day=day, key=key, route=route, provider=provider)
        for target in (row, total):
            target.requests += r.requests
            target.tokens += r.tokens
            target.cost_cny += r.micro / MICRO
            target.paid_cny += r.paid / MICRO
    rows = sorted(groups.values(), key=lambda s: (s.day or "", -s.cost_cny, s.key or "", s.route or ""))
    return T.Spend(by=by, since=_day(day_key(now - (q.days - 1) * 86400)), rows=rows, total=total)


async def _books(gw: Gateway, now: float, days: int) -> History:
    """The ledger's books; a counter in Redis that holds no integer is a 503 naming it (the view would be wrong)."""
    try:
        return await gw.ledger.history(now, days)
    except Unreadable as e:
        raise GatewayError(
            503, f"The ledger's books cannot be read: {e}. Fix or delete that key in Redis, then ask again.",
            type="server_error", code="ledger_unreadable",
        ) from None  # fmt: skip


def _selected(q: T.SpendQuery, key: str, route: str, provider: str) -> bool:
    return (q.key in (None, key)) and (q.route in (None, route)) and (q.provider in (None, provider))


async def grants(gw: Gateway) -> T.Grants:
    """Each configured grant: its remaining amount at the start of each recent day with traffic (walked back
    from now through the books) and the plan in force's projection (to exhaustion, or to expiry and waste)."""
    now = gw.clock()
    snap = await gw.ledger.snapshot(now)
    rows = (await _books(gw, now, HISTORY_DAYS)).rows
    plan = gw.plan
    outlooks = {o.grant.key: o for o in (plan.grants if plan is not None else ())}
    out = []
    for b in snap.grants:
        g, o = b.grant, outlooks.get(b.grant.key)
        scale = 1.0 if g.unit == "tokens" else 1.0 / MICRO
        remaining = b.remaining * scale
        history = _history(rows, g.provider, g.name, g.unit, now, remaining, scale)
        projected: list[T.Point] = []
        waste = 0.0
        if o is not None and plan is not None:
            waste = o.waste * scale
            horizon = plan.made_at + gw.cfg.planning.horizon_days * 86400
            end = o.exhausted_at if o.exhausted_at is not None else g.expires
            if end > now and end <= horizon:  # beyond the horizon the plan does not say
                last = 0.0 if o.exhausted_at is not None else waste
                projected = [T.Point(t=now, remaining=remaining), T.Point(t=end, remaining=last)]
        out.append(
            T.GrantBurn(
                provider=g.provider,
                grant=g.name,
                unit=g.unit,
                size=g.size * scale,
                remaining=remaining,
                expires=g.expires if math.isfinite(g.expires) else None,
                projected_exhaustion=o.exhausted_at if o is not None else None,
                projected_waste=waste,
                at_risk=waste > 0,
                value=o.value if o is not None else None,
                history=history,
                plan=projected,
            )
        )
    return T.Grants(plan_made_at=plan.made_at if plan is not None else None, grants=out)


def _history(
    rows: list[Row], provider: str, grant: str, unit: str, now: float, left: float, scale: float
) -> list[T.Point]:
    """What was left at the start of each day back to the first one booked against the grant, then now."""
    used: dict[str, float] = {}
    for r in rows:
        if r.provider == provider and r.bucket == grant:
            used[r.day] = used.get(r.day, 0.0) + (r.tokens if unit == "tokens" else r.micro) * scale
    start = math.floor(now / 86400) * 86400.0
    points = [T.Point(t=now, remaining=left)]
    first = min(used, default=day_key(now))
    day = start
    while True:
        left += used.get(day_key(day), 0.0)
        points.append(T.Point(t=day, remaining=left))
        if day_key(day) <= first:
            break
        day -= 86400.0
    return points[::-1]
