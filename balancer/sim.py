"""The credit simulation: a demand trace replayed against a config's accounts, hour by hour, per strategy.

Not on the request path: the bench (``bench/credit_sim.py``) and a replay of a gateway's own logs (``cli``)
load it. It drives the gateway's own code on a virtual clock: the routes compiled from the config, the
strategy functions of ``balancer.router.STRATEGIES``, the planner (``make_plan``, re-planned every
``replan_minutes`` from the ledger and the providers' health, warm-started, and before the next request when a
booking finds the plan stale, as the gateway does) and the in-memory ledger that prices and books every request
(grants in the vendor's debit order).

Grants, prices and rate limits come from the config; demand, each route's prompt share, outages and price
changes from the :class:`~balancer.credit.trace.Trace`. Each hour, every route sends ``requests_per_hour``
requests (its demand split evenly), interleaved across routes. A provider in an outage is unhealthy (left
out before the strategy, as ``router.order`` does, and named to the planner as the gateway's health would);
one at its hourly capacity (TPM x 60) refuses, so the request falls to the next candidate in the order, and
what no candidate takes is unserved, priced at the route's :func:`~balancer.credit.bound.unserved_price`.
A price change takes effect at its hour: the ledger and the planner use the new books from then on (the
planner learns of it at that hour's re-plan, not before).
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from balancer import router
from balancer.config import Config
from balancer.credit.bound import hourly_books, unserved_price
from balancer.credit.forecast import BANDS, Forecast, fit_all
from balancer.credit.horizon import blended
from balancer.credit.ledger import AccountBook, Charge, MemoryLedger, Row, Snapshot, books_from_config
from balancer.credit.plan import STALE_GAP_S, Plan, RoutePlan
from balancer.credit.planner import make_plan
from balancer.credit.pricing import INPUT_SHARE, MICRO
from balancer.credit.schedule import Warm
from balancer.credit.trace import Trace
from balancer.routes import Choice, CompiledRoute, compile_routes
from balancer.state import candidate_key

STRATEGIES = ("round-robin", "priority", "cheapest-list", "cheapest", "credit-burn")
FORESIGHT = "credit-burn+foresight"  # a diagnostic, not a strategy: credit-burn planning on the trace's own future
LEVEL = "credit-burn+level"  # a diagnostic: credit-burn whose fitted forecasts are told the rest of the trace's mean
# a diagnostic: credit-burn told each route's expected demand (Trace.expected: a scenario's), not its noise
SHAPE = "credit-burn+shape"
DIAGNOSTICS = (FORESIGHT, LEVEL, SHAPE)
PLANNED = ("cheapest", "credit-burn", *DIAGNOSTICS)  # the strategies that read the planner's plan
H = 3600.0


@dataclass(slots=True)
class SimResult:
    strategy: str
    paid_cny: float = 0.0
    unserved_tokens: float = 0.0
    unserved_cny: float = 0.0
    unserved_by_route: dict[str, float] = field(default_factory=dict)  # route -> tokens no candidate took
    burned: dict[str, int] = field(default_factory=dict)  # grant key -> units used (tokens, or µ¥)
    wasted: dict[str, int] = field(default_factory=dict)  # grant key -> units left at expiry (0: not expired)
    seconds: float = 0.0
    replans: int = 0
    replan_ms: list[float] = field(default_factory=list)  # each make_plan's wall time, in order
    rows: list[Row] = field(default_factory=list)  # the ledger's at the end: per day, provider, model, bucket
    served: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (route, provider/model) -> per hour

    @property
    def replan_max_ms(self) -> float | None:
        """The dearest re-plan: a cold start (the LP's shape changed: a segment boundary passed, a path or a
        band appeared) or a busy moment of the machine."""
        return max(self.replan_ms) if self.replan_ms else None

    @property
    def replan_warm_ms(self) -> float | None:
        return statistics.median(self.replan_ms[1:]) if len(self.replan_ms) > 1 else None


def _round_robin() -> router.Strategy:
    turn = itertools.count()

    def rr(choices: Sequence[Choice], ctx: router.StrategyContext) -> list[Choice]:
        if not choices:
            return []
        k = next(turn) % len(choices)
        return [*choices[k:], *choices[:k]]

    return rr


def strategy_fn(name: str) -> router.Strategy:
    """The strategy function for a simulation strategy name (see :data:`STRATEGIES`, and :data:`DIAGNOSTICS`)."""
    if name not in (*STRATEGIES, *DIAGNOSTICS):
        raise ValueError(f"unknown strategy {name!r} ({', '.join((*STRATEGIES, *DIAGNOSTICS))})")
    if name in DIAGNOSTICS:
        return router.STRATEGIES["credit-burn"]
    return _round_robin() if name == "round-robin" else router.STRATEGIES[name.removesuffix("-list")]


@dataclass(frozen=True, slots=True)
class Foresight(Forecast):
    """A forecast that knows the future: the tokens the trace asks for in each hour and no drift. Its spread is
    flat in every band, so the planner's bands rank the true hours of each block (a rush lands in the top
    band). With it the planner's miss against the optimum is what its slots, its pacing and the execution
    lose; the rest of credit-burn's miss is what the past could not show."""

    actual: Mapping[int, float] = field(default_factory=dict)  # absolute hour -> tokens

    def rate(self, hour: int) -> float:
        return self.actual.get(hour, 0.0)


def foresight(trace: Trace) -> dict[str, Forecast]:
    """Each route's :class:`Foresight` of the whole trace."""
    first = int(trace.start // H)
    return {
        r: Foresight(
            float(d.mean()) if len(d) else 0.0,
            spread=(1.0,) * len(BANDS),
            actual={first + h: float(v) for h, v in enumerate(d)},
        )
        for r, d in trace.demand.items()
    }


@dataclass(frozen=True, slots=True)
class Shaped(Forecast):
    """A fitted forecast whose expectation is the trace's generator's (:attr:`Trace.expected`): level, weekly and
    daily season, steps and trend all known, the noise and the hours the bursts fall on not. Its spread, drift,
    noise futures and the carry of the last hour's deviation are fitted from the past as usual, so the planner
    hedges as it does; its miss is what the noise costs that planning, and credit-burn's beyond it is what the
    forecast's errors cost."""

    expected: Mapping[int, float] = field(default_factory=dict)  # absolute hour -> tokens

    def season(self, hour: int) -> float:
        return self.expected.get(hour, 0.0)


def known_shape(f: Forecast, expected: Mapping[int, float], traffic: Mapping[int, int]) -> Forecast:
    """``f`` (fitted to the past) expecting ``expected`` (absolute hour -> tokens), its carry the log deviation of
    the hour before its origin from that expectation (none where either is 0)."""
    seen, mean = traffic.get(f.origin - 1, 0), expected.get(f.origin - 1, 0.0)
    carry = math.log(seen / mean) if seen > 0 and mean > 0 else 0.0
    kept = {k.name: getattr(f, k.name) for k in fields(Forecast)}
    return Shaped(**(kept | {"carry": carry}), expected=expected)


def known_level(f: Forecast, demand: np.ndarray, start: float, now: float) -> Forecast:
    """``f`` (fitted to the past at ``now``) with its level scaled so that its mean over the rest of the trace is
    the trace's own: the future's level told, its hours (bursts, weekdays, noise) not. With it the planner's
    miss is what the hours cost; the rest of credit-burn's is what the level's error costs."""
    first, t = int(start // H), int((now - start) // H)
    if not 0 <= t < len(demand):
        return f
    ahead = statistics.fmean(f.rate(first + h) for h in range(t, len(demand)))
    truth = float(demand[t:].mean())
    return replace(f, level=f.level * truth / ahead) if ahead > 0 else f


class _Run:
    """One strategy's pass over the trace: the ledger, the books in force, the plans and the tallies."""

    def __init__(self, cfg: Config, trace: Trace, strategy: str, requests_per_hour: int, seed: int) -> None:
        self.cfg, self.trace, self.strategy = cfg, trace, strategy
        self.fn = strategy_fn(strategy)
        self.compiled = compile_routes(cfg, router.STRATEGIES)
        self.names = [r for r in trace.demand if r in self.compiled]
        self.changes = dict(hourly_books(books_from_config(cfg), trace))  # hour -> books from that hour
        self.books: Mapping[str, AccountBook] = self.changes[0]
        self.ledger = MemoryLedger(self.books)
        self.plans: dict[str, RoutePlan] = {}
        self.unserved_at: dict[str, float] = {}
        self.rng, self.warm, self.k = random.Random(seed), Warm(), requests_per_hour
        self.planned_at, self.stale = -math.inf, False  # the last re-plan; a booking found that plan stale
        self.known = foresight(trace) if strategy == FORESIGHT else None
        first, shaped = int(trace.start // H), trace.expected if strategy == SHAPE else {}
        self.expected = {r: {first + h: float(v) for h, v in enumerate(e)} for r, e in shaped.items()}
        if strategy == SHAPE and set(self.names) - self.expected.keys():
            raise ValueError(f"{SHAPE} needs the trace's expected demand of every route (a scenario's, not a log's)")
        self.res = SimResult(strategy)
        self._reprice(0)

    def _reprice(self, hour: int) -> None:
        """The books of ``hour`` (when a price changes then): the ledger's, the list plans', the unserved price."""
        if hour not in self.changes:
            return
        self.books = self.changes[hour]
        self.ledger.configure(self.books)
        share = self.trace.input_share
        self.plans = {n: RoutePlan(price=self._list_prices(r, share.get(n, INPUT_SHARE))) for n, r in self._routes()}
        self.unserved_at = {n: unserved_price(self.cfg, self.books, n, share.get(n, INPUT_SHARE)) for n in self.names}

    def _routes(self) -> list[tuple[str, CompiledRoute]]:
        return [(n, self.compiled[n]) for n in self.names]

    def _list_prices(self, route: CompiledRoute, share: float) -> dict[int, float]:
        return {c.index: blended(self.books.get(c.provider_name), c.model, share) for c in route.choices}

    async def _replan(self, at: float, down: frozenset[str]) -> None:
        snap = await self.ledger.snapshot(at)
        clock = time.perf_counter()
        plan = self.plan(snap, at, down)
        self.res.replan_ms.append((time.perf_counter() - clock) * 1e3)
        self.res.replans += 1
        self.plans = dict(plan.continuing(self.plans).routes)
        self.planned_at, self.stale = at, False

    def plan(self, snap: Snapshot, at: float, down: frozenset[str], warm: Warm | None = None) -> Plan:
        """The plan the strategy makes at ``at`` from ``snap``: on its own forecasts, or on what it is told;
        warm-started from the last re-plan's state unless given another ``warm``."""
        known = self.known
        if self.strategy in (LEVEL, SHAPE):
            traffic = {r: snap.traffic.get(r, {}) for r in self.names}
            fits = fit_all(traffic, at)
            start, demand = self.trace.start, self.trace.demand
            known = {
                r: known_level(fits[r], demand[r], start, at)
                if self.strategy == LEVEL
                else known_shape(fits[r], self.expected[r], traffic[r])
                for r in self.names
            }
        return make_plan(
            self.cfg, self.books, snap, at, down=down, warm=self.warm if warm is None else warm, forecasts=known
        )

    async def hour(self, h: int, every: int) -> None:
        """Hour ``h`` of the trace: its requests, interleaved across routes, re-planning every ``every``."""
        self._reprice(h)
        now, trace = self.trace.start + h * H, self.trace
        cap = {p: (prov.limits.tpm * 60.0 or float("inf")) for p, prov in self.cfg.providers.items()}
        down = self.down(h)
        for i, (name, route) in itertools.product(range(self.k), self._routes()):
            at = now + i * H / self.k
            if self.strategy in PLANNED and ((i % every == 0 and name == self.names[0]) or self.stale):
                await self._replan(at, down)
            healthy = [c for c in route.choices if not trace.is_down(c.provider_name, h)]
            left = self._serve(route, healthy, float(trace.demand[name][h]) / self.k, cap, at)
            self.res.unserved_tokens += left
            self.res.unserved_cny += left * self.unserved_at[name] / MICRO
            self.res.unserved_by_route[name] = self.res.unserved_by_route.get(name, 0.0) + left

    def down(self, h: int) -> frozenset[str]:
        """The candidates ("provider/model") in an outage in hour ``h``: what health tells the gateway."""
        return frozenset(
            candidate_key(c.provider_name, c.model)
            for _, r in self._routes()
            for c in r.choices
            if self.trace.is_down(c.provider_name, h)
        )

    def _serve(
        self, route: CompiledRoute, healthy: list[Choice], tokens: float, cap: dict[str, float], at: float
    ) -> float:
        """One simulated request (it stands for many small ones): what does not fit a provider's capacity falls
        over to the next candidate in the strategy's order. Returns the tokens no candidate took."""
        ctx = router.StrategyContext(now=at, rng=self.rng, plan=self.plans.get(route.name), tokens=tokens)
        share = self.trace.input_share.get(route.name, INPUT_SHARE)
        left = tokens
        for c in self.fn(healthy, ctx):
            take = min(left, cap[c.provider_name])
            if take <= 0:
                continue
            cap[c.provider_name] -= take
            left -= take
            self._served(route.name, c, take, at)
            prompt = round(take * share)
            cost = self.ledger.book(Charge(c.provider_name, c.model, route.name, prompt, round(take) - prompt), at)
            self._watch(route.name, c.index, cost.paid, at)
            if left <= 0:
                break
        return max(left, 0.0)

    def _watch(self, route: str, index: int, paid: int, at: float) -> None:
        """As the gateway's ``booked``: a booking that shows the plan stale has it re-made before the next
        request (not sooner than ``STALE_GAP_S`` after it was made)."""
        plan = self.plans.get(route)
        if plan is not None and plan.stale_after(index, paid) and at - self.planned_at >= STALE_GAP_S:
            self.stale = True

    def _served(self, route: str, c: Choice, tokens: float, at: float) -> None:
        """Tally what a candidate served a route, per hour of the trace (the ledger keeps no route per row)."""
        hours = self.res.served.setdefault((route, f"{c.provider_name}/{c.model}"), [0.0] * self.trace.hours)
        hours[int((at - self.trace.start) // H)] += tokens

    async def finish(self) -> SimResult:
        end = self.trace.start + self.trace.hours * H
        snap = await self.ledger.snapshot(end)
        self.res.paid_cny = sum(r.micro for r in snap.rows if r.bucket == "paid") / MICRO
        self.res.burned = {g.grant.key: g.used for g in snap.grants}
        self.res.wasted = {g.grant.key: g.remaining if g.grant.expires <= end else 0 for g in snap.grants}
        self.res.rows = list(snap.rows)
        return self.res


async def plans_at(
    cfg: Config, trace: Trace, strategy: str, hours: Sequence[int], *, requests_per_hour: int = 40,
    replan_minutes: float = 15.0, seed: int = 1,
) -> dict[int, Plan]:  # fmt: skip
    """The plan ``strategy`` (a planned one) makes at the start of each of ``hours``, the trace served up to it as
    :func:`simulate` serves it (re-planning on its schedule): made cold, beside the run (which it leaves as it
    was), with the providers down then left out. ``bench/credit_values.py`` reads the grants' values off them."""
    run = _Run(cfg, trace, strategy, requests_per_hour, seed)
    every = _every(strategy, requests_per_hour, replan_minutes)
    out: dict[int, Plan] = {}
    for h in range(max(hours, default=-1) + 1):
        if h in hours:
            run._reprice(h)
            at = trace.start + h * H
            out[h] = run.plan(await run.ledger.snapshot(at), at, run.down(h), Warm())
        if h < max(hours):
            await run.hour(h, every)
    return out


async def simulate(
    cfg: Config,
    trace: Trace,
    strategy: str,
    *,
    requests_per_hour: int = 40,
    replan_minutes: float = 15.0,
    seed: int = 1,
) -> SimResult:
    """Replay ``trace`` against ``cfg``'s accounts with ``strategy`` (module docstring). ``seed`` seeds the
    strategies' random draws; ``credit-burn`` re-plans every ``replan_minutes``, ``cheapest`` every hour."""
    clock = time.perf_counter()
    run = _Run(cfg, trace, strategy, requests_per_hour, seed)
    every = _every(strategy, requests_per_hour, replan_minutes)
    for h in range(trace.hours):
        await run.hour(h, every)
    res = await run.finish()
    res.seconds = time.perf_counter() - clock
    return res


def _every(strategy: str, requests_per_hour: int, replan_minutes: float) -> int:
    """Re-plan every this many requests of the first route: ``cheapest`` hourly, the others every
    ``replan_minutes`` (read for PLANNED strategies only)."""
    k = requests_per_hour
    return k if strategy == "cheapest" else max(1, round(k * replan_minutes / 60))
