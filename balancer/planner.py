"""The credit-burn planner: each route's mix for the current hour, re-planned periodically.

Off the hot path (every ``planning.replan_s``, from a ledger snapshot):

1. Forecast each route's demand per UTC hour of day (the last 7 days' traffic; the rest of the current
   hour from the rate seen in it) and its prompt share (:mod:`balancer.horizon`), and cut the time to a
   week past the last grant deadline into slots.
2. Solve the schedule (:mod:`balancer.schedule`): the cheapest way to serve the forecast within every
   provider's capacity, grants spent only inside their windows and up to what is left of them.
3. Read the current hour off it: per route, the share of requests each candidate should take (grant,
   free and paid alike; the cheap ones drawn a little more than planned, so a quiet hour takes its dip
   from the dearest), and for whatever the shares do not place (a pick at its limit, traffic above the
   forecast) the order of what the next token costs now: a candidate's price, or the value of the grant
   it would spend, plus the value of its provider's capacity this hour (the LP's duals).

The result is a :class:`Plan`: what the ``credit-burn`` and ``cheapest`` strategies read per request, and
the outlook the plan report shows (each grant's projected exhaustion and waste, paid spend per period).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from balancer.horizon import (
    INF,
    Grant,
    H,
    Slot,
    blended,
    capacity,
    forecast,
    grants_to_plan,
    nowcast,
    segments,
)
from balancer.ledger import AccountBook, Snapshot
from balancer.pricing import INPUT_SHARE, MICRO, Account
from balancer.router import CompiledRoute
from balancer.schedule import Candidate, Problem, Schedule, Warm, solve

OVERSUBSCRIBE = 1.25  # how much more than planned the cheap picks are drawn (see _shares)
GOLDEN = 0.6180339887498949  # k * GOLDEN mod 1: picks that match the shares closely at every count


Period = tuple[float, float, Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What the strategies read for one route: precomputed, so ordering costs microseconds."""

    shares: tuple[float, ...] = ()  # cumulative shares of the route's requests; shares[i] pairs with share_to[i]
    share_to: tuple[int, ...] = ()  # choice indices
    price: Mapping[int, float] = field(default_factory=dict)  # effective µ¥/token; 0 while a grant covers it
    capped: frozenset[int] = frozenset()  # over a paid spend cap and no grant covers them
    rank: Mapping[int, int] = field(default_factory=dict)  # the order for the rest (capped ones absent)
    turn: Iterator[int] = field(default_factory=itertools.count)

    def pick(self, u: float) -> int | None:
        """The candidate a ``u`` in [0, 1) lands on, or None (past the planned shares)."""
        i = bisect.bisect_right(self.shares, u)
        return self.share_to[i] if i < len(self.share_to) else None

    def next_pick(self) -> int | None:
        """The next pick of a low-discrepancy sequence: after n picks each candidate has had its share of them
        within about 3 (random draws: within ~sqrt(n))."""
        return self.pick((next(self.turn) * GOLDEN) % 1.0)


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
    paid: tuple[Period, ...] = ()  # (from, to, provider -> µ¥/day)
    demand: Mapping[str, float] = field(default_factory=dict)  # route -> forecast tokens/day
    unserved: float = 0.0  # forecast tokens no candidate has room for, over the horizon
    status: str = ""  # the solver's


def make_plan(
    routes: Mapping[str, CompiledRoute],
    books: Mapping[str, AccountBook],
    snap: Snapshot,
    now: float,
    margin: float = 0.05,
    horizon_days: float = 60.0,
    down: frozenset[str] = frozenset(),
    warm: Warm | None = None,
) -> Plan:
    """The plan for the current hour (and the outlook for the report), from a ledger snapshot.

    ``down``: candidates ("provider/model") unavailable now; they get nothing this hour and their grants are
    planned for later. ``warm``: the previous solve's basis, kept by the caller between re-plans."""
    list_price = {
        name: {
            c.index: blended(books.get(c.provider_name), c.model, snap.input_share.get(name, INPUT_SHARE))
            for c in r.choices
        }
        for name, r in routes.items()
    }
    # Far enough to show what is paid after the last grant: a week past it, and at least 30 days.
    ends = [st.expires + 7 * 86400.0 for st in snap.grants if now < st.expires < INF]
    horizon = min(max([*ends, now + 30 * 86400.0]), now + horizon_days * 86400.0)
    grants = grants_to_plan(routes, snap, now, margin)
    rates = {name: forecast(snap.traffic.get(name, {}), now) for name in routes}
    pb = _problem(routes, list_price, snap, now, grants, horizon, rates, down)
    sched = solve(pb, warm)
    paying: dict[tuple[str, int], list[Grant]] = {}  # (route, choice index) -> the grants that pay for it now
    for g in grants:
        if g.state.starts <= now:
            for pair in g.pairs:
                paying.setdefault(pair, []).append(g)
    return Plan(
        made_at=now,
        routes={name: _route_plan(name, pb.routes[name], pb.demand[name][0], sched, paying, now) for name in routes},
        grants=tuple(_outlook(g, sched, pb.bounds, horizon) for g in grants),
        paid=_paid(pb.bounds, sched.paid),
        demand={r: sum(v) for r, v in rates.items()},
        unserved=sched.unserved,
        status=sched.status,
    )


def _problem(
    routes: Mapping[str, CompiledRoute],
    list_price: Mapping[str, Mapping[int, float]],
    snap: Snapshot,
    now: float,
    grants: list[Grant],
    horizon: float,
    rates: Mapping[str, Sequence[float]],
    down: frozenset[str],
) -> Problem:
    """The schedule's inputs: slots to the horizon (the current hour only for what is left of it), demand
    per slot (the current hour's from the traffic seen in it), candidates, capacities and grants."""
    slots, bounds = segments(now, grants, horizon)
    elapsed = now / H % 1.0
    slots[0] = Slot(0, slots[0].hod, max(1.0 - elapsed, 1 / 60))
    demand = {r: [rates[r][s.hod] for s in slots] for r in routes}
    for r in routes:
        demand[r][0] = nowcast(rates[r][slots[0].hod], snap.traffic.get(r, {}).get(int(now // H), 0), elapsed)
    cands = {
        name: [
            Candidate(
                c.index,
                c.provider_name,
                c.model,
                list_price[name][c.index],
                not _capped(c.provider.account, snap, c.provider_name),
            )
            for c in r.choices
        ]
        for name, r in routes.items()
    }
    avg = _avg_tokens(snap)
    caps = {c.provider_name: capacity(c, avg.get(c.provider_name, 0.0)) for r in routes.values() for c in r.choices}
    return Problem(slots, bounds, cands, demand, caps, grants, down)


def _paid(bounds: Sequence[float], spend: Sequence[Mapping[str, float]]) -> tuple[Period, ...]:
    """µ¥/day per provider in each period between grant deadlines (the current hour counts with the next)."""
    periods = [(a, b, dict(s)) for (a, b), s in zip(itertools.pairwise(bounds), spend, strict=True)]
    if len(periods) > 1:
        (a, _, first), (_, b, second) = periods[0], periods[1]
        periods[:2] = [(a, b, {p: first.get(p, 0.0) + second.get(p, 0.0) for p in first.keys() | second.keys()})]
    return tuple((a, b, {p: v / ((b - a) / 86400.0) for p, v in s.items()}) for a, b, s in periods)


def _avg_tokens(snap: Snapshot) -> dict[str, float]:
    tok: dict[str, list[int]] = {}
    for row in snap.rows:
        t = tok.setdefault(row.provider, [0, 0])
        t[0] += row.tokens
        t[1] += row.requests
    return {p: t / n for p, (t, n) in tok.items() if n}


def _capped(account: Account, snap: Snapshot, provider: str) -> bool:
    day, month = snap.paid_today.get(provider, 0), snap.paid_month.get(provider, 0)
    return (account.daily_cap is not None and day >= account.daily_cap * MICRO) or (
        account.monthly_cap is not None and month >= account.monthly_cap * MICRO
    )


def _route_plan(
    route: str,
    cands: Sequence[Candidate],
    demand: float,
    sched: Schedule,
    paying: Mapping[tuple[str, int], Sequence[Grant]],
    now: float,
) -> RoutePlan:
    price = {c.index: 0.0 if (route, c.index) in paying else c.price for c in cands}
    capped = frozenset(c.index for c in cands if not c.paid_ok and price[c.index] > 0)
    planned = {c.index: sum(sched.now.get((route, c.index), (0.0, 0.0))) / demand if demand > 0 else 0.0 for c in cands}
    cum, to = _shares(planned, price, {i for i, p in price.items() if p == 0.0})
    # What the next token costs on each candidate now: the grant it would spend (its value to the schedule,
    # converted to tokens) or its price, plus what its provider's capacity is worth this hour. Ties go to
    # the candidate a grant pays for (it is spent now rather than later), then to the lower list price.
    marginal = {}
    for c in cands:
        spend = [
            sched.lam.get(g.key, 0.0) * (1.0 if g.state.unit == "tokens" else c.price)
            for g in paying.get((route, c.index), ())
        ]
        marginal[c.index] = (min(spend) if spend else c.price) + sched.mu.get(c.provider, 0.0)
    list_price = {c.index: c.price for c in cands}
    order = sorted(
        (c.index for c in cands if c.index not in capped),
        key=lambda i: (round(marginal[i], 6), price[i] > 0, list_price[i], i),
    )
    return RoutePlan(
        shares=cum,
        share_to=to,
        price=price,
        capped=capped,
        rank={idx: n for n, idx in enumerate(order)},
        turn=itertools.count(int(now // 60)),  # where the sequence starts: a new place at every re-plan
    )


def _shares(
    planned: Mapping[int, float], price: Mapping[int, float], boost: set[int]
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Cumulative pick shares from the planned shares of the route's forecast demand, cheapest first.

    In an hour that runs below the forecast the cheap candidates should still get their planned tokens and
    the dearest take the dip, so: the ``boost`` ones (what a grant pays for, free models) are drawn up to
    OVERSUBSCRIBE times their share, then the cheaper paid ones up to as much out of what is left, and the
    dearest paid one gets the rest. A provider's limit cuts any excess, which falls over in the plan's order."""
    used = sorted((i for i, v in planned.items() if v > 0), key=lambda i: (price[i], i))
    if not used:
        return (), ()
    last = used[-1] if used[-1] not in boost else None  # a paid dearest takes the dip; grants never do
    up = sum(planned[i] for i in used if i in boost)
    flat = sum(planned[i] for i in used if i not in boost and i != last)
    over = min(OVERSUBSCRIBE, 1.0 / up) if up > 0 else 1.0
    scale = min(OVERSUBSCRIBE, (1.0 - over * up) / flat) if flat > 0 else 1.0  # grants come first
    cum: list[float] = []
    total = 0.0
    for i in used:
        if i == last:  # what is left of the plan
            total = min(1.0, max(total, up + flat + planned[i]))
        else:
            total = min(1.0, total + planned[i] * (over if i in boost else scale))
        cum.append(total)
    return tuple(cum), tuple(used)


def _outlook(g: Grant, sched: Schedule, bounds: Sequence[float], horizon: float) -> GrantOutlook:
    burn = sched.burn.get(g.key, [])
    left = g.amount - sum(burn)
    short = left > 1e-6 * max(1.0, g.amount)
    beyond = g.state.expires > horizon  # what is left at the horizon is not waste yet
    exhausted = None
    if not short:
        done = 0.0
        for seg, part in enumerate(burn):
            if part > 0 and done + part >= g.amount * (1 - 1e-6):
                exhausted = bounds[seg] + (g.amount - done) / part * (bounds[seg + 1] - bounds[seg])
                break
            done += part
    return GrantOutlook(
        provider=g.state.provider,
        name=g.state.name,
        unit=g.state.unit,
        remaining=g.state.remaining,
        expires=g.state.expires,
        exhausted_at=exhausted,
        waste=0 if beyond or not short else round(left),
        share_now=sched.grant_now.get(g.key, 0.0),
    )
