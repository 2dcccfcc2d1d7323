"""Cost strategies: ``cheapest`` by effective price and ``credit-burn`` by the planner's paced shares."""

from __future__ import annotations

import random
import time
from collections import Counter

from balancer import router
from balancer.planner import RoutePlan
from balancer.state.memory import MemoryStore
from tests.balancer.planning import T0, plan_now, setup


def names(choices: list[router.Choice]) -> list[str]:
    return [c.provider_name for c in choices]


def test_cheapest_without_plan_is_list_price() -> None:
    """With no plan yet, ``cheapest`` orders by the catalogue's list price."""
    _, routes, _ = setup()
    ctx = router.StrategyContext(now=T0, rng=random.Random(1))
    assert names(router.cheapest(routes["chat"].choices, ctx)) == ["glm", "qwen", "ds"]


def test_cheapest_puts_grant_covered_first_and_leaves_out_capped() -> None:
    """A grant makes its candidate free; a candidate over its spend cap is left out."""
    _, routes, _ = setup()
    plan = RoutePlan(price={0: 2.25, 1: 1.1, 2: 0.0}, capped=frozenset({0}))
    ctx = router.StrategyContext(now=T0, rng=random.Random(1), plan=plan)
    assert names(router.cheapest(routes["chat"].choices, ctx)) == ["glm", "qwen"]


def test_credit_burn_follows_paced_shares_and_returns_a_full_order() -> None:
    """The first pick follows the plan's share; every healthy candidate is still in the order, once."""
    _, routes, _ = setup()
    plan = RoutePlan(
        burn=(0.3,),
        burn_to=(2,),
        price={0: 2.25, 1: 1.1, 2: 0.0},
        remainder=(1, 0, 2),
        rank={2: 0, 1: 1, 0: 2},
        remainder_rank={1: 0, 0: 1, 2: 2},
    )
    ctx = router.StrategyContext(now=T0, rng=random.Random(5), plan=plan)
    firsts: Counter[str] = Counter()
    for _ in range(4_000):
        order = names(router.credit_burn(routes["chat"].choices, ctx))
        assert sorted(order) == ["ds", "glm", "qwen"]
        firsts[order[0]] += 1
    assert 0.27 < firsts["glm"] / 4_000 < 0.33
    assert firsts["ds"] == 0  # the remainder goes to the cheapest paid candidate first


def test_credit_burn_is_deterministic_given_the_rng() -> None:
    """Same plan, same seed: same orders."""
    plan, _ = plan_now()
    _, routes, _ = setup()
    runs = []
    for _ in range(2):
        ctx = router.StrategyContext(now=T0, rng=random.Random(3), plan=plan.routes["chat"])
        runs.append([names(router.credit_burn(routes["chat"].choices, ctx)) for _ in range(50)])
    assert runs[0] == runs[1]


async def test_unhealthy_candidates_never_reach_the_strategy() -> None:
    """Health outranks price: a cooled-down grant candidate is not in the order at all."""
    plan, _ = plan_now()
    _, routes, _ = setup()
    store = MemoryStore()
    await store.cool_down("glm", T0 + 60, "quota_exhausted", T0)
    ordered, _ = router.order(routes["chat"], store, T0, random.Random(1), "credit-burn", plan)
    assert "glm" not in names(ordered) and len(ordered) == 2


def test_strategies_run_in_microseconds() -> None:
    """Ordering with a precomputed plan is cheap enough for the hot path."""
    plan, _ = plan_now()
    _, routes, _ = setup()
    choices = routes["chat"].choices
    ctx = router.StrategyContext(now=T0, rng=random.Random(1), plan=plan.routes["chat"])
    t = time.perf_counter()
    for _ in range(10_000):
        router.credit_burn(choices, ctx)
        router.cheapest(choices, ctx)
    assert (time.perf_counter() - t) / 20_000 < 50e-6
