"""The credit-burn planner: which share of each route's traffic each grant should take, re-planned periodically.

Off the hot path (every ``planning.replan_s``): from the ledger (grants left, recent traffic per route)
and the providers' rate limits it forecasts demand per hour of day, and fills each grant's remaining
amount into the hours before ``expires − margin``, **paced** in proportion to the capacity left in each
hour. Grants are placed most-constrained first (highest need / capacity); a grant that cannot be burned
in time even at full capacity is placed last, takes only what is left, and is reported with its
projected waste. Within an hour a grant serves the routes whose paid alternative costs most first.

The result is a :class:`Plan`: per route, the share of requests to send to each grant-covered candidate
first (sampled by the ``credit-burn`` strategy), the effective marginal price of every candidate (0
while a grant covers it), and the candidates over a spend cap. Time is sliced into segments between
grant deadlines; inside a segment every day looks the same, so each segment is 24 hour-of-day slots
with a multiplicity, and planning 60 days costs a few milliseconds.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from balancer import flow
from balancer.ledger import AccountBook, GrantState, Snapshot
from balancer.pricing import MICRO, Account
from balancer.router import Choice, CompiledRoute

H = 3600.0
INPUT_SHARE = 0.75  # prompt tokens' share of the traffic, for blended per-token prices
HISTORY_DAYS = 7
OVERSUBSCRIBE = 1.25  # grant and free shares are drawn this much larger: a pick refused at its limit falls over
INF = float("inf")


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


@dataclass(slots=True)
class _Slot:
    seg: int
    hod: int  # hour of day (UTC)
    weight: float  # how many such hours the segment holds


@dataclass(slots=True)
class _Grant:
    state: GrantState
    need: float  # tokens still to burn
    start: float
    end: float  # planned end: expires minus the safety margin
    pairs: list[tuple[str, int]]  # (route, choice index) it can serve
    tau: float = 0.0  # need / capacity available when it was placed (1: it needs every token it can get)
    alloc: dict[tuple[str, int], list[float]] = field(default_factory=dict)  # per slot, tokens/hour


@dataclass(slots=True)
class _World:
    slots: list[_Slot]
    bounds: list[float]  # segment boundaries, epoch seconds
    demand: dict[str, list[float]]  # route -> tokens/hour per slot, left after grants
    cap: dict[str, list[float]]  # provider -> tokens/hour per slot, left
    now_slot: int = 0  # the slot of the current hour


def blended(book: AccountBook | None, model: str, input_share: float = INPUT_SHARE) -> float:
    t = book.tariffs.get(model) if book else None
    return t.blended(input_share) if t else 0.0


def forecast(traffic: Mapping[int, int], now: float) -> list[float]:
    """Tokens/hour for each UTC hour of day: a per-hour-of-day mean over the last days, or a flat rate."""
    hour = int(now // H)
    past = {h: v for h, v in traffic.items() if hour - HISTORY_DAYS * 24 <= h < hour}
    if not past:
        return [0.0] * 24
    first = min(past)
    span = hour - first
    if span < 24:
        return [sum(past.values()) / span] * 24
    sums, counts = [0.0] * 24, [0] * 24
    for h in range(first, hour):
        sums[h % 24] += past.get(h, 0)
        counts[h % 24] += 1
    return [s / c if c else 0.0 for s, c in zip(sums, counts, strict=True)]


def capacity(choice: Choice, avg_tokens: float) -> float:
    """A provider's tokens/hour under its TPM and RPM limits (inf when unlimited)."""
    lim = choice.provider.limits
    cap = lim.tpm * 60.0 if lim.tpm else INF
    if lim.rpm and avg_tokens > 0:
        cap = min(cap, lim.rpm * 60.0 * avg_tokens)
    return cap


def _segments(now: float, grants: Sequence[_Grant], horizon: float) -> tuple[list[_Slot], list[float]]:
    """Hour-of-day slots of the segments between ``now``, every grant's start and planned end, and the horizon."""
    h0, hn = math.floor(now / H), max(math.floor(now / H) + 1, math.ceil(horizon / H))
    marks = {h0, hn}
    for g in grants:
        marks.update(min(max(math.ceil(t / H), h0), hn) for t in (g.start, g.end, g.state.expires) if t < INF)
    bounds = sorted(marks)
    slots: list[_Slot] = []
    for seg, (a, b) in enumerate(itertools.pairwise(bounds)):
        n = b - a
        for hod in range(24):
            w = n // 24 + (1 if (hod - a) % 24 < n % 24 else 0)
            if w:
                slots.append(_Slot(seg, hod, float(w)))
    return slots, [b * H for b in bounds]


def _grants(
    routes: Mapping[str, CompiledRoute], books: Mapping[str, AccountBook], snap: Snapshot, now: float, margin: float
) -> list[_Grant]:
    out = []
    for st in snap.grants:
        if st.remaining <= 0 or st.expires <= now:
            continue
        pairs = [
            (r.name, c.index)
            for r in routes.values()
            for c in r.choices
            if c.provider_name == st.provider and (not st.models or c.model in st.models)
        ]
        if not pairs:
            continue
        need = float(st.remaining)
        if st.unit == "money":
            prices = [blended(books.get(st.provider), routes[r].choices[i].model) for r, i in pairs]
            mean = sum(prices) / len(prices)
            if mean <= 0:
                continue
            need = st.remaining / mean
        start = max(now, st.starts)
        window = st.expires - max(st.starts, now - 30 * 86400.0)  # the whole window, not what is left of it
        end = max(start, st.expires - margin * window) if st.expires < INF else INF
        out.append(_Grant(st, need, start, end, pairs))
    return out


def _room(g: _Grant, w: _World, i: int, routes: Mapping[str, CompiledRoute]) -> float:
    """Tokens/hour grant ``g`` could take in slot ``i``: demand of its routes, within its provider's capacity."""
    seen: set[str] = set()
    demand = 0.0
    for r, _ in g.pairs:
        if r not in seen:
            seen.add(r)
            demand += w.demand[r][i]
    return min(demand, w.cap[g.state.provider][i])


def _active(g: _Grant, w: _World, i: int) -> bool:
    seg = w.slots[i].seg
    return g.start <= w.bounds[seg] and w.bounds[seg + 1] <= g.end


def _available(g: _Grant, w: _World, routes: Mapping[str, CompiledRoute]) -> float:
    return sum(s.weight * _room(g, w, i, routes) for i, s in enumerate(w.slots) if _active(g, w, i))


@dataclass(slots=True)
class _Prices:
    """What a token is worth per UTC hour of day, from the paid-only flow (no grants) of the forecast."""

    marginal: dict[str, list[float]]  # route -> µ¥/token of the dearest candidate it needs at that hour
    shadow: dict[str, list[float]]  # provider -> µ¥/token its capacity saves others at that hour (0: not full)


def _pressure(
    routes: Mapping[str, CompiledRoute],
    list_price: Mapping[str, Mapping[int, float]],
    rates: Mapping[str, Sequence[float]],
    caps: Mapping[str, float],
) -> _Prices:
    arcs = [
        (n, "p:" + c.provider_name, INF, list_price[n][c.index], (n, c.index, c.provider_name))
        for n, r in routes.items()
        for c in r.choices
    ]
    out = _Prices({n: [0.0] * 24 for n in routes}, {p: [0.0] * 24 for p in caps})
    for hod in range(24):
        flows = flow.transport({n: rates[n][hod] for n in routes}, {"p:" + p: cap for p, cap in caps.items()}, arcs)
        used: dict[str, float] = {}
        for (n, idx, p), v in flows.items():
            used[p] = used.get(p, 0.0) + v
            out.marginal[n][hod] = max(out.marginal[n][hod], list_price[n][idx])
        for n, idx, p in flows:
            if caps[p] < INF and used[p] >= 0.99 * caps[p]:
                gain = out.marginal[n][hod] - list_price[n][idx]
                out.shadow[p][hod] = max(out.shadow[p][hod], gain)
    return out


def _by_value(g: _Grant, w: _World, routes: Mapping[str, CompiledRoute], prices: _Prices) -> list[float]:
    """Tokens/hour for ``g`` per slot: the hours where a grant token saves most (the paid price its routes
    pay at the margin, less what its provider's capacity would save others then) first, until its need is
    met; equally good hours share alike, and every day of a segment gets the same (the pacing)."""
    routes_of = {r for r, _ in g.pairs}
    shadow = prices.shadow[g.state.provider]
    active = [i for i in range(len(w.slots)) if _active(g, w, i)]
    value = {i: max(prices.marginal[r][w.slots[i].hod] for r in routes_of) - shadow[w.slots[i].hod] for i in active}
    out = [0.0] * len(w.slots)
    left = g.need
    for _, group in itertools.groupby(sorted(active, key=lambda i: -value[i]), key=lambda i: round(value[i], 6)):
        members = list(group)
        room = {i: _room(g, w, i, routes) for i in members}
        total = sum(w.slots[i].weight * room[i] for i in members)
        f = 1.0 if total <= left else left / total
        for i in members:
            out[i] = f * room[i]
        left -= f * total
        if left <= 0:
            break
    return out


def _place(g: _Grant, w: _World, routes: Mapping[str, CompiledRoute], prices: _Prices) -> float:
    """Place ``g`` (see :func:`_by_value`), taking from its routes whose marginal paid price is highest first."""
    placed = 0.0
    for i, planned in enumerate(_by_value(g, w, routes, prices)):
        amount = planned
        hod = w.slots[i].hod
        for r, idx in sorted(dict.fromkeys(g.pairs), key=lambda p: -prices.marginal[p[0]][hod]):
            take = min(amount, w.demand[r][i])
            if take <= 0:
                continue
            w.demand[r][i] -= take
            w.cap[g.state.provider][i] -= take
            g.alloc.setdefault((r, idx), [0.0] * len(w.slots))[i] += take
            amount -= take
            placed += take * w.slots[i].weight
    return placed


def _plan_grants(
    grants: list[_Grant], w: _World, routes: Mapping[str, CompiledRoute], prices: _Prices
) -> dict[str, float]:
    """Place grants most-constrained first; those that cannot finish in time go last. Returns waste (tokens)."""
    waste: dict[str, float] = {}
    todo = list(grants)
    while todo:
        ratios = [(g.need / a if (a := _available(g, w, routes)) > 0 else INF, g) for g in todo]
        for t, g in ratios:
            if t > 1.0 and g.end < g.state.expires:  # the safety margin is the first thing to give up
                g.end = g.state.expires
        ratios = [(g.need / a if (a := _available(g, w, routes)) > 0 else INF, g) for g in todo]
        feasible = [(t, g) for t, g in ratios if t <= 1.0]
        if feasible:
            _, g = max(feasible, key=lambda tg: (tg[0], -tg[1].end))
        else:
            g = min(todo, key=lambda g: g.end)
        todo.remove(g)
        g.tau = next(t for t, h in ratios if h is g)
        waste[g.state.provider + "/" + g.state.name] = max(0.0, g.need - _place(g, w, routes, prices))
    return waste


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
    grants = _grants(routes, books, snap, now, margin)
    ends = [g.end for g in grants if g.end < INF]
    horizon = min(max([*ends, now + 86400.0]), now + horizon_days * 86400.0)
    slots, bounds = _segments(now, grants, horizon)
    rates = {name: forecast(snap.traffic.get(name, {}), now) for name in routes}
    w = _World(slots, bounds, {r: [rates[r][s.hod] for s in slots] for r in routes}, {})
    w.now_slot = next(i for i, s in enumerate(slots) if s.seg == 0 and s.hod == int(now // H) % 24)
    avg = _avg_tokens(snap)
    caps = {c.provider_name: capacity(c, avg.get(c.provider_name, 0.0)) for r in routes.values() for c in r.choices}
    w.cap = {p: [cap] * len(slots) for p, cap in caps.items()}
    value = {r: min(p.values(), default=0.0) for r, p in list_price.items()}
    waste = _plan_grants(grants, w, routes, _pressure(routes, list_price, rates, caps))
    free = _free(routes, list_price, snap, now)
    grants.extend(_place_free(f, w, value) for f in free)
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


def _free(
    routes: Mapping[str, CompiledRoute], list_price: Mapping[str, Mapping[int, float]], snap: Snapshot, now: float
) -> list[_Grant]:
    """Models free at list price (no grant needed) as bottomless grants, placed after the real ones."""
    out: dict[str, _Grant] = {}
    for name, r in routes.items():
        for c in r.choices:
            if list_price[name][c.index] == 0 and not _covered(snap, c, now):
                st = GrantState(
                    provider=c.provider_name, name="", unit="tokens", size=0, used=0, models=[], starts=0, expires=INF
                )
                g = out.setdefault(c.provider_name, _Grant(st, INF, now, INF, []))
                g.pairs.append((name, c.index))
    return list(out.values())


def _place_free(g: _Grant, w: _World, value: Mapping[str, float]) -> _Grant:
    """Free models take whatever room the grants left, for the routes whose paid alternative costs most."""
    by_value = sorted(g.pairs, key=lambda p: -value[p[0]])
    cap = w.cap[g.state.provider]
    for i in range(len(w.slots)):
        for r, idx in by_value:
            take = min(cap[i], w.demand[r][i])
            if take > 0:
                w.demand[r][i] -= take
                cap[i] -= take
                g.alloc.setdefault((r, idx), [0.0] * len(w.slots))[i] += take
    return g


def _shadow(
    grants: Sequence[_Grant], w: _World, value: Mapping[str, float], caps: Mapping[str, float]
) -> dict[str, float]:
    """µ¥/token that unplanned use of a provider whose room this hour the plan has given to its grants costs:
    the grant tokens it displaces are worth the paid price of the routes those grants serve."""
    out: dict[str, float] = {}
    for g in grants:
        p = g.state.provider
        if g.state.name and caps[p] < INF and w.cap[p][w.now_slot] <= 0.02 * caps[p]:
            out[p] = max(out.get(p, 0.0), *(value[r] for r, _ in g.pairs))
    return out


def _avg_tokens(snap: Snapshot) -> dict[str, float]:
    tok: dict[str, list[int]] = {}
    for row in snap.rows:
        t = tok.setdefault(row.provider, [0, 0])
        t[0] += row.tokens
        t[1] += row.requests
    return {p: t / n for p, (t, n) in tok.items() if n}


def _covered(snap: Snapshot, c: Choice, now: float) -> bool:
    return any(
        g.provider == c.provider_name
        and g.remaining > 0
        and g.starts <= now < g.expires
        and (not g.models or c.model in g.models)
        for g in snap.grants
    )


def _capped(account: Account, provider: str, snap: Snapshot) -> bool:
    day, month = snap.paid_today.get(provider, 0), snap.paid_month.get(provider, 0)
    return (account.daily_cap is not None and day >= account.daily_cap * MICRO) or (
        account.monthly_cap is not None and month >= account.monthly_cap * MICRO
    )


def _route_plan(
    route: CompiledRoute,
    grants: Sequence[_Grant],
    list_price: Mapping[int, float],
    w: _World,
    snap: Snapshot,
    now: float,
    shadow: Mapping[str, float],
    hour: Mapping[tuple[str, str, int], float],
) -> RoutePlan:
    price = {c.index: 0.0 if _covered(snap, c, now) else list_price[c.index] for c in route.choices}
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


def _outlook(g: _Grant, waste: Mapping[str, float], w: _World, now: float) -> GrantOutlook:
    left = waste.get(g.state.provider + "/" + g.state.name, 0.0)
    unit_per_token = g.state.remaining / g.need if g.need else 0.0
    first = sum(v[w.now_slot] for v in g.alloc.values())
    return GrantOutlook(
        provider=g.state.provider,
        name=g.state.name,
        unit=g.state.unit,
        remaining=g.state.remaining,
        expires=g.state.expires,
        exhausted_at=None if left > 1e-6 * max(1.0, g.need) else min(g.end, g.state.expires),
        waste=round(left * unit_per_token),
        share_now=first,
    )


def _paid(
    w: _World, routes: Mapping[str, CompiledRoute], list_price: Mapping[str, Mapping[int, float]]
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
    w: _World,
    routes: Mapping[str, CompiledRoute],
    list_price: Mapping[str, Mapping[int, float]],
    grants: Sequence[_Grant],
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
