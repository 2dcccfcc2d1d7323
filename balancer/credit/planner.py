"""The credit-burn planner: each route's mix for the current hour, re-planned periodically.

Off the hot path (every ``planning.replan_s``, from a ledger snapshot):

1. Forecast each route's demand from its hourly traffic (:mod:`balancer.credit.forecast`, fitted once an hour:
   :mod:`~balancer.credit.fits`; level with a step test, weekly season read with the other routes' weeks
   (:mod:`~balancer.credit.season`), daily profile, the spread of hours, the level's drift, the deviations noise
   futures are drawn from; the rest of the current hour from its rate), cut the time to a week past the last
   grant deadline into slots, and give each slot its demand per path and band (:mod:`balancer.credit.horizon`:
   drift paths and noise futures).
2. Solve the schedule (:mod:`balancer.credit.lp`, loaded here only): the cheapest way, on average over the
   demand paths, to serve the forecast within every provider's capacity, grants spent only inside their
   windows and up to what is left of them, unserved demand at its price.
3. Read the current hour off it (:mod:`balancer.credit.picks`): per route, the share of tokens each
   candidate should take (grant, free and paid alike; the cheap ones drawn a little more than planned, so a
   quiet hour takes its dip from the dearest, unless another route is planned on their provider for something
   other than the same left-over pack; a free model or left-over pack on a provider nothing else counts on
   takes the dearest paid one's draw too), and for whatever the shares do not place (a pick at its limit,
   traffic above the forecast) the order of what the next token costs now: a candidate's price, or the value
   of the grant it would spend, plus the value of its provider's capacity this hour (the LP's duals); among
   equals, a provider no other route is planned on first.

The result is a :class:`~balancer.credit.plan.Plan`: what the ``credit-burn`` and ``cheapest`` strategies read
per request, and the outlook the plan report shows (each grant's projected exhaustion and waste, paid spend per period).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence

from balancer.config import Config, Provider
from balancer.credit import picks
from balancer.credit.fits import fitted
from balancer.credit.forecast import Forecast
from balancer.credit.horizon import (
    INF,
    H,
    PlannedGrant,
    Slot,
    banded,
    blended,
    capacity,
    grants_to_plan,
    nowcast,
    segments,
    unserved_price,
)
from balancer.credit.ledger import AccountBook, Ledger, Snapshot
from balancer.credit.plan import GrantOutlook, Period, Plan
from balancer.credit.pricing import INPUT_SHARE, MICRO
from balancer.credit.schedule import Offer, Problem, Schedule, Warm


class PlanError(Exception):
    """No plan now (the message says why); the caller keeps the plan in force."""


def make_plan(
    cfg: Config,
    books: Mapping[str, AccountBook],
    snap: Snapshot,
    now: float,
    down: frozenset[str] = frozenset(),
    warm: Warm | None = None,
    forecasts: Mapping[str, Forecast] | None = None,
) -> Plan:
    """The plan for the current hour (and the outlook for the report) of the config's routes, from a ledger
    snapshot; candidates are known by their index in their route, as the router compiles them (``lineups``: which).

    ``down``: candidates ("provider/model") unavailable now; they get nothing this hour and their grants are
    planned for later. ``warm``: what the previous re-plan leaves the next (its basis, and its demand model for the
    rest of the hour), kept by the caller.
    ``forecasts``: route -> the demand forecast to plan on, instead of one fitted to the snapshot's traffic
    (the simulator's foresight diagnostic)."""
    routes, horizon_days = cfg.routes, cfg.planning.horizon_days
    list_price = {
        name: {
            i: blended(books.get(c.provider), c.model, snap.input_share.get(name, INPUT_SHARE))
            for i, c in enumerate(r.candidates)
        }
        for name, r in routes.items()
    }
    # Far enough to show what is paid after the last grant: a week past it, and at least 30 days.
    ends = [b.grant.expires + 7 * 86400.0 for b in snap.grants if now < b.grant.expires < INF]
    horizon = min(max([*ends, now + 30 * 86400.0]), now + horizon_days * 86400.0)
    grants = grants_to_plan(routes, snap, now, cfg.planning.safety_margin)
    given = forecasts or {}
    fits = fitted({name: snap.traffic.get(name, {}) for name in routes}, now) if set(routes) - set(given) else {}
    fcs = {name: given.get(name) or fits[name] for name in routes}
    pb = _problem(cfg, list_price, snap, now, grants, horizon, fcs, down, warm)
    from balancer.credit import lp  # numpy and HiGHS load here, in the planner's worker, never on the request path

    sched = lp.solve(pb, warm)
    paying = {pair: pb.grants[gi] for pair, gi in pb.debited().items()}  # what the vendor debits for it now
    carriers = picks.carriers(pb, sched, paying)
    return Plan(
        made_at=now,
        routes={
            name: picks.route_plan(
                name, pb.routes[name], pb.demand[name][0], sched, paying, picks.others(carriers, name)
            )
            for name in routes
        },
        grants=tuple(_outlook(g, sched, pb.bounds, horizon) for g in grants),
        paid=_paid(pb.bounds, sched.paid),
        demand={r: sum(f.rate(int(now // H) + k) for k in range(24)) for r, f in fcs.items()},
        unserved=sched.unserved,
        status=sched.status,
        lineups={name: tuple((c.provider, c.model) for c in r.candidates) for name, r in routes.items()},
        capacity_value={p: float(v) for p, v in sched.mu.items()},
    )


async def replan(
    cfg: Config,
    books: Mapping[str, AccountBook],
    ledger: Ledger,
    now: float,
    rates: Mapping[str, float] | None = None,
    down: frozenset[str] = frozenset(),
    warm: Warm | None = None,
) -> tuple[Plan, Snapshot]:
    """Plan from the ledger now; ``rates`` (route -> tokens/hour) stands in for traffic history, ``down`` names
    the candidates (provider/model) unavailable now. The solve runs in a worker thread (HiGHS releases the GIL):
    ~0.1 s from the last re-plan's ``warm`` state, ~2 s cold (``bench/planner_bench.py``), never on the event
    loop. Returns the plan and the snapshot it was made from (what the report renders beside it);
    :class:`PlanError` when a counter of the shared ledger could not be read (``Snapshot.unread``)."""
    snap = await ledger.snapshot(now)
    if snap.unread:  # a plan on figures the cluster could not give would hide that for good
        raise PlanError(f"the shared ledger could not be read: {snap.unread}")
    if rates:
        hour = int(now // H)
        for route, rate in rates.items():
            snap.traffic[route] = {h: round(rate) for h in range(hour - 24, hour)}
            snap.traffic[route][hour] = round(rate * (now / H % 1.0))  # this hour so far, at the same rate
    plan = await asyncio.to_thread(make_plan, cfg, books, snap, now, down, warm)
    return plan, snap


def _problem(
    cfg: Config,
    list_price: Mapping[str, Mapping[int, float]],
    snap: Snapshot,
    now: float,
    grants: list[PlannedGrant],
    horizon: float,
    fcs: Mapping[str, Forecast],
    down: frozenset[str],
    warm: Warm | None = None,
) -> Problem:
    """The schedule's inputs: slots to the horizon (the current hour only for what is left of it), demand
    per slot and band (the current hour's from the traffic seen in it), candidates, capacities and grants."""
    routes, providers = cfg.routes, cfg.providers
    slots, bounds = segments(now, grants, horizon)
    elapsed = now / H % 1.0
    slots[0] = Slot(0, slots[0].hod, max(1.0 - elapsed, 1 / 60))
    slots, demand = _banded(slots, bounds, fcs, warm)
    for r in routes:
        demand[r][0] = nowcast(demand[r][0], snap.traffic.get(r, {}).get(int(now // H), 0), elapsed)
    capped = {p for p, prov in providers.items() if _capped(prov, snap, p)}
    cands = {
        name: [
            Offer(i, c.provider, c.model, list_price[name][i], c.provider not in capped)
            for i, c in enumerate(r.candidates)
        ]
        for name, r in routes.items()
    }
    avg = _avg_tokens(snap)
    used = dict.fromkeys(c.provider for r in routes.values() for c in r.candidates)  # in config order: the LP's too
    caps = {p: capacity(providers[p].limits, avg.get(p, 0.0)) for p in used}
    unserved = {name: unserved_price(r, list_price[name].values()) for name, r in routes.items()}
    paths = max(1, 1 + max(s.path for s in slots))
    return Problem(slots, bounds, cands, demand, caps, grants, down, unserved, paths)


def _banded(
    slots: list[Slot], bounds: Sequence[float], fcs: Mapping[str, Forecast], warm: Warm | None
) -> tuple[list[Slot], dict[str, list[float]]]:
    """:func:`~balancer.credit.horizon.banded`, or the last re-plan's (kept in ``warm``) when its inputs were the
    same: the segment bounds (the slots after the current hour follow from them) and the forecasts. They change
    with the hour (the futures are seeded by it), a grant's window or a refit, not between the re-plans of an
    hour. Fresh lists either way: the caller overwrites the current hour's demand."""
    key = (tuple(bounds), tuple(fcs.items()))
    if warm is not None and warm.demand is not None and warm.demand[0] == key:
        out, demand = warm.demand[1]
    else:
        out, demand = banded(slots, bounds, fcs)
        if warm is not None:
            warm.demand = (key, (out, demand))
    return [slots[0], *out[1:]], {r: list(d) for r, d in demand.items()}


def _paid(bounds: Sequence[float], spend: Sequence[Mapping[str, float]]) -> tuple[Period, ...]:
    """µ¥/day per provider in each period between grant deadlines (the current hour counts with the next)."""
    periods = [(a, b, dict(s)) for (a, b), s in zip(itertools.pairwise(bounds), spend, strict=True)]
    if len(periods) > 1:
        (a, _, first), (_, b, second) = periods[0], periods[1]
        periods[:2] = [(a, b, {p: first.get(p, 0.0) + second.get(p, 0.0) for p in dict.fromkeys([*first, *second])})]
    return tuple((a, b, {p: v / ((b - a) / 86400.0) for p, v in s.items()}) for a, b, s in periods)


def _avg_tokens(snap: Snapshot) -> dict[str, float]:
    tok: dict[str, list[int]] = {}
    for row in snap.rows:
        t = tok.setdefault(row.provider, [0, 0])
        t[0] += row.tokens
        t[1] += row.requests
    return {p: t / n for p, (t, n) in tok.items() if n}


def _capped(prov: Provider, snap: Snapshot, provider: str) -> bool:
    account = prov.account
    day, month = snap.paid_today.get(provider, 0), snap.paid_month.get(provider, 0)
    return (account.daily_cap is not None and day >= account.daily_cap * MICRO) or (
        account.monthly_cap is not None and month >= account.monthly_cap * MICRO
    )


def _outlook(g: PlannedGrant, sched: Schedule, bounds: Sequence[float], horizon: float) -> GrantOutlook:
    burn = sched.burn.get(g.key, [])
    left = g.amount - sum(burn)
    short = left > 1e-6 * max(1.0, g.amount)
    beyond = g.grant.expires > horizon  # what is left at the horizon is not waste yet
    exhausted = None
    if not short:
        done = 0.0
        for seg, part in enumerate(burn):
            if part > 0 and done + part >= g.amount * (1 - 1e-6):
                exhausted = bounds[seg] + (g.amount - done) / part * (bounds[seg + 1] - bounds[seg])
                break
            done += part
    return GrantOutlook(
        grant=g.grant,
        remaining=round(g.amount),
        exhausted_at=exhausted,
        waste=0 if beyond or not short else round(left),
        share_now=sched.grant_now.get(g.key, 0.0),
        value=sched.lam.get(g.key, 0.0),
    )
