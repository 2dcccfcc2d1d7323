"""The credit-burn planner: which share of each route's traffic each grant should take, re-planned periodically.

Off the hot path (every ``planning.replan_s``, from a ledger snapshot):

1. Forecast each route's demand per UTC hour of day (the last days' traffic) and its prompt share.
2. Place every grant's remaining amount into the hours before ``expires − margin``
   (:mod:`balancer.placement`): most-constrained grants first, each into the hours where one of its
   tokens saves most — the paid price its routes pay at the margin, less what its provider's capacity
   would save other traffic then — so every day of its window gets the same (the pacing). A grant that
   cannot be burned in time even at full capacity takes what is left and is reported with its projected
   waste; the margin is the first thing it gives up. Free models take the room that remains.
3. Solve the current hour as a min-cost flow (:mod:`balancer.flow`): route demand to candidates within
   provider capacity, grants limited to what step 2 gave them this hour.

The result is a :class:`Plan`; per route a :class:`RoutePlan`: the shares of requests to send first to
each grant-covered (or free) candidate, sampled by the ``credit-burn`` strategy; the order for the rest
(the hour's paid candidates cheapest first); the fallback order (effective price plus the grant tokens a
provider's use would displace); effective prices for ``cheapest``; candidates over a spend cap.

Measured against the offline LP (bench/README.md): within 1–4% of the optimum's paid spend, burning
95–100% of what it burns. The next step toward the LP is to price each grant's tokens (a Lagrange
multiplier per grant), re-solve the hour flows of every slot with those prices and adjust them until each
grant's planned burn meets its remainder — ~200 flows of ~0.3 ms per iteration, fine every few minutes.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from balancer import flow
from balancer.ledger import AccountBook, Snapshot
from balancer.placement import (
    INF,
    INPUT_SHARE,
    GrantPlan,
    H,
    World,
    blended,
    capacity,
    covered,
    forecast,
    free_models,
    grants_to_place,
    place_free,
    place_grants,
    pressure,
    segments,
)
from balancer.pricing import MICRO, Account
from balancer.router import CompiledRoute

OVERSUBSCRIBE = 1.25  # grant and free shares are drawn this much larger: a pick refused at its limit falls over


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What the strategies read for one route: precomputed, so ordering costs microseconds."""

    burn: tuple[float, ...] = ()  # cumulative shares; burn[i] pairs with burn_to[i]
    burn_to: tuple[int, ...] = ()  # choice indices of grant-covered candidates
    price: Mapping[int, float] = field(default_factory=dict)  # effective µ¥/token; 0 while a grant covers it
    list_price: Mapping[int, float] = field(default_factory=dict)  # µ¥/token at list price
    capped: frozenset[int] = frozenset()  # over a paid spend cap and no grant covers them
    remainder: tuple[int, ...] = ()  # preference for traffic no grant is planned for
    rank: Mapping[int, int] = field(default_factory=dict)  # the order to fall back in (capped ones absent)
    remainder_rank: Mapping[int, int] = field(default_factory=dict)

    def pick(self, u: float) -> int | None:
        """The candidate a uniform ``u`` in [0, 1) lands on, or None (the unplanned remainder)."""
        i = bisect.bisect_right(self.burn, u)
        return self.burn_to[i] if i < len(self.burn_to) else None


@dataclass(frozen=True, slots=True)
class GrantOutlook:
    provider: str
    name: str
    unit: str
    remaining: int
    expires: float
    exhausted_at: float | None  # projected; None: not before the horizon
    waste: int  # projected units left at expiry
    share_now: float  # tokens/hour planned this hour


@dataclass(frozen=True, slots=True)
class Plan:
    made_at: float
    routes: Mapping[str, RoutePlan]
    grants: tuple[GrantOutlook, ...] = ()
    paid: tuple[tuple[float, float, Mapping[str, float]], ...] = ()  # (from, to, provider -> µ¥/day)
    demand: Mapping[str, float] = field(default_factory=dict)  # route -> forecast tokens/day


def make_plan(
    routes: Mapping[str, CompiledRoute],
    books: Mapping[str, AccountBook],
    snap: Snapshot,
    now: float,
    margin: float = 0.05,
    horizon_days: float = 60.0,
) -> Plan:
    """The plan for the current hour (and the outlook for the report), from a ledger snapshot."""
    list_price = {
        name: {
            c.index: blended(books.get(c.provider_name), c.model, snap.input_share.get(name, INPUT_SHARE))
            for c in r.choices
        }
        for name, r in routes.items()
    }
    grants = grants_to_place(routes, books, snap, now, margin)
    # Far enough to show what is paid after the last grant: a week past it, and at least 30 days.
    ends = [g.state.expires + 7 * 86400.0 for g in grants if g.state.expires < INF]
    horizon = min(max([*ends, now + 30 * 86400.0]), now + horizon_days * 86400.0)
    slots, bounds = segments(now, grants, horizon)
    rates = {name: forecast(snap.traffic.get(name, {}), now) for name in routes}
    w = World(slots, bounds, {r: [rates[r][s.hod] for s in slots] for r in routes}, {})
    w.now_slot = next(i for i, s in enumerate(slots) if s.seg == 0 and s.hod == int(now // H) % 24)
    avg = _avg_tokens(snap)
    caps = {c.provider_name: capacity(c, avg.get(c.provider_name, 0.0)) for r in routes.values() for c in r.choices}
    w.cap = {p: [cap] * len(slots) for p, cap in caps.items()}
    value = {r: min(p.values(), default=0.0) for r, p in list_price.items()}
    waste = place_grants(grants, w, routes, pressure(routes, list_price, rates, caps))
    free = free_models(routes, list_price, snap, now)
    grants.extend(place_free(f, w, value) for f in free)
    shadow = _shadow(grants, w, value, caps)
    hour = _hour(w, routes, list_price, grants, caps, rates)
    plans = {name: _route_plan(r, grants, list_price[name], w, snap, now, shadow, hour) for name, r in routes.items()}
    return Plan(
        made_at=now,
        routes=plans,
        grants=tuple(_outlook(g, waste, w, now) for g in grants if g.state.name),
        paid=_paid(w, routes, list_price),
        demand={r: sum(v) for r, v in rates.items()},
    )


def _shadow(
    grants: Sequence[GrantPlan], w: World, value: Mapping[str, float], caps: Mapping[str, float]
) -> dict[str, float]:
    """µ¥/token that unplanned use of a provider whose room this hour the plan has given to its grants costs:
    the grant tokens it displaces are worth the paid price of the routes those grants serve."""
    out: dict[str, float] = {}
    for g in grants:
        p = g.state.provider
        if g.state.name and caps[p] < INF and w.cap[p][w.now_slot] <= 0.02 * caps[p]:
            out[p] = max(out.get(p, 0.0), *(0.5 * value[r] for r, _ in g.pairs))  # an upper bound: halved
    return out


def _avg_tokens(snap: Snapshot) -> dict[str, float]:
    tok: dict[str, list[int]] = {}
    for row in snap.rows:
        t = tok.setdefault(row.provider, [0, 0])
        t[0] += row.tokens
        t[1] += row.requests
    return {p: t / n for p, (t, n) in tok.items() if n}


def _capped(account: Account, provider: str, snap: Snapshot) -> bool:
    day, month = snap.paid_today.get(provider, 0), snap.paid_month.get(provider, 0)
    return (account.daily_cap is not None and day >= account.daily_cap * MICRO) or (
        account.monthly_cap is not None and month >= account.monthly_cap * MICRO
    )


def _route_plan(
    route: CompiledRoute,
    grants: Sequence[GrantPlan],
    list_price: Mapping[int, float],
    w: World,
    snap: Snapshot,
    now: float,
    shadow: Mapping[str, float],
    hour: Mapping[tuple[str, str, int], float],
) -> RoutePlan:
    price = {c.index: 0.0 if covered(snap, c, now) else list_price[c.index] for c in route.choices}
    i = w.now_slot
    urgency = {
        idx: g.tau for g in grants if g.state.name for (r, idx), v in g.alloc.items() if r == route.name and v[i]
    }
    extra = {c.index: 0.0 if c.index in urgency else shadow.get(c.provider_name, 0.0) for c in route.choices}
    capped = frozenset(
        c.index for c in route.choices if price[c.index] > 0 and _capped(c.provider.account, c.provider_name, snap)
    )
    mine = {(kind, idx): v for (kind, r, idx), v in hour.items() if r == route.name}
    demand = sum(mine.values())
    share: dict[int, float] = {}
    for (kind, idx), v in mine.items():
        if kind in ("grant", "free") and demand > 0:
            share[idx] = share.get(idx, 0.0) + OVERSUBSCRIBE * v / demand
    cum, to, total = [], [], 0.0
    for idx, sh in sorted(share.items()):
        total = min(1.0, total + sh)
        cum.append(total)
        to.append(idx)
    usable = [c.index for c in route.choices if c.index not in capped]
    # Traffic no grant is planned for fills the candidates the hour's paid flow uses, cheapest first, so the
    # hour's ups and downs land on the dearest of them; grant-covered candidates count at list price here.
    paid = {idx for kind, idx in mine if kind == "paid"}
    remainder = sorted(usable, key=lambda i: (list_price[i] + extra[i], i not in paid, i))
    fallback = sorted(usable, key=lambda i: (price[i] + extra[i], -urgency.get(i, 0.0), list_price[i], i))
    return RoutePlan(
        burn=tuple(cum),
        burn_to=tuple(to),
        price=price,
        list_price=dict(list_price),
        capped=capped,
        remainder=tuple(remainder),
        rank={idx: n for n, idx in enumerate(fallback)},
        remainder_rank={idx: n for n, idx in enumerate(remainder)},
    )


def _outlook(g: GrantPlan, waste: Mapping[str, float], w: World, now: float) -> GrantOutlook:
    left = waste.get(g.state.provider + "/" + g.state.name, 0.0)
    short = left > 1e-6 * max(1.0, g.need)
    beyond = g.state.expires > w.bounds[-1]  # expires past the horizon: what is left then is not waste yet
    return GrantOutlook(
        provider=g.state.provider,
        name=g.state.name,
        unit=g.state.unit,
        remaining=g.state.remaining,
        expires=g.state.expires,
        exhausted_at=None if short else _exhaustion(g, w),
        waste=0 if beyond else round(left * (g.state.remaining / g.need if g.need else 0.0)),
        share_now=sum(v[w.now_slot] for v in g.alloc.values()),
    )


def _exhaustion(g: GrantPlan, w: World) -> float:
    """When the planned burn reaches the grant's need, interpolated inside the segment where it does."""
    done = 0.0
    for seg in range(len(w.bounds) - 1):
        part = sum(v[i] * s.weight for v in g.alloc.values() for i, s in enumerate(w.slots) if s.seg == seg)
        if part > 0 and done + part >= g.need * (1 - 1e-6):
            return w.bounds[seg] + (g.need - done) / part * (w.bounds[seg + 1] - w.bounds[seg])
        done += part
    return min(g.end, g.state.expires)


def _paid(
    w: World, routes: Mapping[str, CompiledRoute], list_price: Mapping[str, Mapping[int, float]]
) -> tuple[tuple[float, float, Mapping[str, float]], ...]:
    """Paid µ¥/day per provider in each segment: what grants leave goes to the cheapest candidate with room."""
    out = []
    for seg in range(len(w.bounds) - 1):
        spend: dict[str, float] = {}
        days = (w.bounds[seg + 1] - w.bounds[seg]) / 86400.0
        for i, s in enumerate(w.slots):
            if s.seg != seg:
                continue
            cap = {p: v[i] for p, v in w.cap.items()}
            for name, r in routes.items():
                left = w.demand[name][i]
                for c in sorted(r.choices, key=lambda c: list_price[name][c.index]):
                    take = min(left, cap[c.provider_name])
                    cap[c.provider_name] -= take
                    left -= take
                    cost = take * s.weight * list_price[name][c.index] / days
                    if cost:
                        spend[c.provider_name] = spend.get(c.provider_name, 0.0) + cost
        out.append((w.bounds[seg], w.bounds[seg + 1], spend))
    return tuple(out)


def _hour(
    w: World,
    routes: Mapping[str, CompiledRoute],
    list_price: Mapping[str, Mapping[int, float]],
    grants: Sequence[GrantPlan],
    caps: Mapping[str, float],
    rates: Mapping[str, Sequence[float]],
) -> dict[tuple[str, str, int], float]:
    """This hour as a min-cost flow: each route's forecast demand to its candidates, within each provider's
    capacity; a grant may spend what the pacing gave it this hour (a small bonus for using it, so it wins
    ties with free models). Flows are tagged (kind, route, choice index), kind = grant | free | paid."""
    i, hod = w.now_slot, w.slots[w.now_slot].hod
    arcs: list[tuple[str, str, float, float, tuple[str, str, int]]] = []
    for name, r in routes.items():
        for c in r.choices:
            kind = "free" if list_price[name][c.index] == 0 else "paid"
            arcs.append((name, "p:" + c.provider_name, INF, list_price[name][c.index], (kind, name, c.index)))
    for n, g in enumerate(grants):
        budget = sum(v[i] for v in g.alloc.values())
        if not g.state.name or budget <= 0:
            continue
        node = f"g:{n}"
        arcs.append((node, "p:" + g.state.provider, budget, 0.0, ("budget", node, n)))
        bonus = -1e-6 * (1.0 + g.tau)
        arcs.extend((r, node, INF, bonus, ("grant", r, idx)) for r, idx in dict.fromkeys(g.pairs))
    supply = {name: rates[name][hod] for name in routes}
    flows = flow.transport(supply, {"p:" + p: cap for p, cap in caps.items()}, arcs)
    out: dict[tuple[str, str, int], float] = {}
    for tag, v in flows.items():
        out[tag] = out.get(tag, 0.0) + v
    return out
