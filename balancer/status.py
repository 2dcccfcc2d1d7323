"""The gateway's live state as operators see it: each provider's health, quota, balance and grants, the state
store, the credit plan. One snapshot serves the admin API, the dashboard, ``/readyz`` and the metrics scrape,
so they never disagree. Off the request path: built on demand (and by the metrics refresher).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from balancer.credit.plan import Plan
from balancer.credit.pricing import MICRO, value_unit
from balancer.gateway import Gateway
from balancer.state import Quota

# A provider's state, worst first: why it takes no traffic, or how much of it does.
DRAINED, DISABLED, COOLING, PARTIAL, UP = "drained", "disabled", "cooling_down", "partial", "up"
DISABLING = ("auth_failed", "quota_exhausted")  # reasons an account is out until something changes
FOREVER = 10 * 365 * 86400.0  # a drain lasts until undrained


@dataclass(frozen=True, slots=True)
class ModelState:
    model: str
    available: bool
    reason: str = ""  # cooldown:<class>, breaker_open
    until: float | None = None
    latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class ProviderState:
    name: str
    vendor: str
    state: str  # drained | disabled | cooling_down | partial | up
    reason: str  # the provider-wide cooldown's reason, if any
    until: float | None
    models: tuple[ModelState, ...]
    limits: dict[str, int]  # rpm, tpm, concurrency (0: none)
    quota: Quota
    balance: dict[str, Any] | None  # the last poll: total, granted, paid, currency; or {"error": ...}
    grants: tuple[dict[str, Any], ...]  # each grant: name, unit, size, remaining, expires
    spend: dict[str, float | None]  # paid CNY today and this month, and the caps on them (None: none)


@dataclass(frozen=True, slots=True)
class Status:
    at: float
    providers: tuple[ProviderState, ...]
    store: dict[str, Any]  # backend, status, degraded_events
    # The plan in force (verdict, made_at, grants at risk) and the re-plans failing since (error, counts).
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def out(self) -> list[ProviderState]:
        """Providers taking no traffic for a reason an operator must act on (drained, bad key, no funds)."""
        return [p for p in self.providers if p.state in (DRAINED, DISABLED)]


async def snapshot(gw: Gateway) -> Status:
    """The state now, read from the store, the balance poller, the ledger and the plan in force."""
    now = gw.clock()
    snap = await gw.ledger.snapshot(now)
    grants: dict[str, list[dict[str, Any]]] = {}
    for b in snap.grants:
        g = b.grant
        grants.setdefault(g.provider, []).append(
            {"name": g.name, "unit": g.unit, "size": g.size, "remaining": b.remaining, "expires": _finite(g.expires)}
        )
    models: dict[str, set[str]] = {}
    for route in gw.routes.values():
        for c in route.choices:
            models.setdefault(c.provider_name, set()).add(c.model)
    providers = []
    for name, prov in sorted(gw.cfg.providers.items()):
        states = tuple(_model(gw, name, m, now) for m in sorted(models.get(name, ())))
        cooled = gw.store.cooldown(name, now)
        lim = prov.limits
        providers.append(
            ProviderState(
                name=name,
                vendor=prov.vendor,
                state=_state(cooled, states),
                reason=cooled[1] if cooled else "",
                until=_finite(cooled[0]) if cooled and cooled[1] != DRAINED else None,  # a drain has no end
                models=states,
                limits={"rpm": lim.rpm, "tpm": lim.tpm, "concurrency": lim.concurrency},
                quota=await gw.store.quota(name, now),
                balance=_balance(gw, name),
                grants=tuple(grants.get(name, ())),
                spend={
                    "today": snap.paid_today.get(name, 0) / MICRO,
                    "month": snap.paid_month.get(name, 0) / MICRO,
                    "daily_cap": prov.account.daily_cap,
                    "monthly_cap": prov.account.monthly_cap,
                },
            )
        )
    store = {"backend": gw.store.name, "status": await gw.store.status(), "degraded_events": gw.store.degraded_events}
    return Status(
        at=now,
        providers=tuple(providers),
        store=store,
        plan={**_plan(gw.plan), "solve_s": gw.solve_s, **gw.replans.view()},
    )


def _model(gw: Gateway, provider: str, model: str, now: float) -> ModelState:
    h = gw.store.health(provider, model, now)
    until = _finite(h.until) if not h.available else None
    return ModelState(model, h.available, h.reason, until, h.latency_ms)


def _state(cooled: tuple[float, str] | None, models: tuple[ModelState, ...]) -> str:
    if cooled is not None:
        reason = cooled[1]
        return DRAINED if reason == DRAINED else DISABLED if reason in DISABLING else COOLING
    if models and not any(m.available for m in models):
        return COOLING
    return PARTIAL if any(not m.available for m in models) else UP


def _balance(gw: Gateway, name: str) -> dict[str, Any] | None:
    poller = gw.balances
    if poller is None:
        return None
    if name in poller.errors:
        return {"error": poller.errors[name]}
    b = poller.latest.get(name)
    return None if b is None else {"total": b.total, "granted": b.granted, "paid": b.paid, "currency": b.currency}


def _plan(plan: Plan | None) -> dict[str, Any]:
    if plan is None:
        return {"status": "none"}
    return {
        "status": plan.status,
        "made_at": plan.made_at,
        "grants_at_risk": [
            {"provider": o.grant.provider, "grant": o.grant.name, "waste": o.waste} for o in plan.grants if o.waste > 0
        ],
        "unserved_tokens": plan.unserved,
        "grant_values": [
            {"provider": o.grant.provider, "grant": o.grant.name, "unit": value_unit(o.grant.unit), "value": o.value}
            for o in plan.grants
        ],
        "capacity_values": dict(plan.capacity_value),
    }


def _finite(t: float) -> float | None:
    return t if math.isfinite(t) else None


async def drain(gw: Gateway, provider: str) -> None:
    """Take a provider out of rotation on every instance until :func:`undrain` (an operator's decision)."""
    now = gw.clock()
    await gw.store.cool_down(provider, now + FOREVER, DRAINED, now)


async def undrain(gw: Gateway, provider: str) -> None:
    await gw.store.clear(provider, DRAINED)
