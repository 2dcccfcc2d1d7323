"""The router: a route's healthy candidates, in the order its strategy says to try them.

Strategies are plain functions in ``STRATEGIES`` (the seam for cost- and credit-aware routing): given the
healthy candidates and a context (health, the credit plan's view of the route), return them in order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from balancer.credit.plan import Plan, RoutePlan
from balancer.routes import Choice, CompiledRoute
from balancer.state import Health, StateStore


@dataclass(slots=True)
class StrategyContext:
    now: float
    rng: random.Random
    health: dict[int, Health] = field(default_factory=dict)
    plan: RoutePlan | None = None  # the credit-burn planner's view of this route (cost strategies)
    tokens: float = 1.0  # the request's tokens (an estimate): what a credit-burn pick weighs


Strategy = Callable[[Sequence[Choice], StrategyContext], list[Choice]]


def priority(choices: Sequence[Choice], ctx: StrategyContext) -> list[Choice]:
    """In the order the config lists them."""
    return list(choices)


def weighted(choices: Sequence[Choice], ctx: StrategyContext) -> list[Choice]:
    """A weighted random order (sampling without replacement: key = u ** (1 / weight))."""
    keyed = [(ctx.rng.random() ** (1.0 / c.weight) if c.weight > 0 else -1.0, c) for c in choices]
    keyed.sort(key=lambda kc: kc[0], reverse=True)
    return [c for _, c in keyed]


RESAMPLE = 0.02  # lowest-latency: the share of requests that re-measure a slower candidate


def lowest_latency(choices: Sequence[Choice], ctx: StrategyContext) -> list[Choice]:
    """Fastest first by latency EWMA; candidates never measured go first so they get measured.

    One request in 50 puts a random slower candidate first: an EWMA only moves when its candidate serves, so
    without re-measuring, one stalled answer would keep a candidate last for good after it recovered."""

    def key(c: Choice) -> float:
        h = ctx.health.get(c.index)
        return -1.0 if h is None or h.latency_ms is None else h.latency_ms

    ranked = sorted(choices, key=key)
    if len(ranked) > 1 and ctx.rng.random() < RESAMPLE:
        ranked.insert(0, ranked.pop(ctx.rng.randrange(1, len(ranked))))
    return ranked


def cheapest(choices: Sequence[Choice], ctx: StrategyContext) -> list[Choice]:
    """Lowest effective marginal price first: zero while a grant covers the model, list price otherwise.

    Without a plan (no ledger yet) that is the list price. Candidates over a paid spend cap are left out.
    """
    plan = ctx.plan
    if plan is None:
        return sorted(choices, key=lambda c: c.list_price)
    price, capped = plan.price, plan.capped
    return sorted((c for c in choices if c.index not in capped), key=lambda c: price.get(c.index, 0.0))


def credit_burn(choices: Sequence[Choice], ctx: StrategyContext) -> list[Choice]:
    """The planner's pick first (drawn so each candidate takes its share of the route's tokens this hour, each
    request weighed by its tokens: the schedule's grant pacing, free models and paid mix), then every other
    candidate in the order of what the next token costs now, so one at its limit falls over to the next cheapest."""
    plan = ctx.plan
    if plan is None or not plan.rank:
        return cheapest(choices, ctx)
    rank = plan.rank
    ordered = sorted((c for c in choices if c.index in rank), key=lambda c: rank[c.index])
    pick = plan.next_pick(ctx.tokens)
    first = next((c for c in ordered if c.index == pick), None)
    if first is None:  # past the planned shares, or the pick is unhealthy: the cheapest now goes first
        return ordered
    return [first, *(c for c in ordered if c is not first)]


STRATEGIES: dict[str, Strategy] = {
    "priority": priority,
    "weighted": weighted,
    "lowest-latency": lowest_latency,
    "cheapest": cheapest,
    "credit-burn": credit_burn,
}


def order(
    route: CompiledRoute,
    store: StateStore,
    now: float,
    rng: random.Random,
    strategy: str | None = None,
    plan: Plan | None = None,
    tokens: float = 1.0,
) -> tuple[list[Choice], float | None]:
    """Healthy candidates in the order to try, and (when none is healthy) when one may be again. ``tokens``: the
    request's (an estimate), which a credit-burn pick weighs."""
    route_plan = plan.routes.get(route.name) if plan is not None else None
    ctx = StrategyContext(now=now, rng=rng, plan=route_plan, tokens=tokens)
    healthy: list[Choice] = []
    soonest: float | None = None
    for c in route.choices:
        h = store.health(c.provider_name, c.model, now)
        ctx.health[c.index] = h
        if h.available:
            healthy.append(c)
        elif soonest is None or h.until < soonest:
            soonest = h.until
    fn = STRATEGIES[strategy or route.strategy]
    return fn(healthy, ctx), soonest
