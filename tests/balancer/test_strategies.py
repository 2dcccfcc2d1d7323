"""Cost strategies: ``cheapest`` by effective price and ``credit-burn`` by the planner's shares and order."""

from __future__ import annotations

import random
from collections import Counter

from balancer import router
from balancer.planner import RoutePlan
from balancer.state import Health
from balancer.state.memory import MemoryStore
from tests.balancer.planning import T0, credit_config, plan_now, setup


def names(choices: list[router.Choice]) -> list[str]:
    return [c.provider_name for c in choices]


def test_cheapest_without_plan_is_list_price() -> None:
    """With no plan yet, ``cheapest`` orders by the catalogue's list price."""
    _, routes, _ = setup()
    ctx = router.StrategyContext(now=T0, rng=random.Random(1))
    assert names(router.cheapest(routes["chat"].choices, ctx)) == ["glm", "qwen", "ds"]


def test_cheapest_list_price_converts_currency_and_takes_configured_prices() -> None:
    """Before a plan exists, list prices are compared in CNY (gpt-4o-mini's USD catalogue price converted at
    ``money.usd_cny``) and a provider's configured ``prices`` override its catalogue."""
    raw = credit_config()
    raw["providers"] = {"ds": {"vendor": "deepseek"}, "qwen": {"vendor": "qwen"}, "oa": {"vendor": "openai"}}
    raw["routes"] = {
        "chat": {
            "candidates": [
                {"provider": "ds", "model": "deepseek-chat"},  # ¥2 / ¥3: 2.25 blended
                {"provider": "oa", "model": "gpt-4o-mini"},  # $0.15 / $0.60: ¥1.89 blended at 7.2
                {"provider": "qwen", "model": "qwen-plus"},  # ¥0.8 / ¥2: 1.1 blended
            ]
        }
    }
    ctx = router.StrategyContext(now=T0, rng=random.Random(1))
    _, routes, _ = setup(raw)
    assert names(router.cheapest(routes["chat"].choices, ctx)) == ["qwen", "oa", "ds"]
    raw["providers"]["ds"]["prices"] = {"deepseek-chat": {"input": 0.5, "output": 1.0}}
    raw["money"] = {"usd_cny": 1.0}
    _, routes, _ = setup(raw)
    assert names(router.cheapest(routes["chat"].choices, ctx)) == ["oa", "ds", "qwen"]


def test_cheapest_puts_grant_covered_first_and_leaves_out_capped() -> None:
    """A grant makes its candidate free; a candidate over its spend cap is left out."""
    _, routes, _ = setup()
    plan = RoutePlan(price={0: 2.25, 1: 1.1, 2: 0.0}, capped=frozenset({0}))
    ctx = router.StrategyContext(now=T0, rng=random.Random(1), plan=plan)
    assert names(router.cheapest(routes["chat"].choices, ctx)) == ["glm", "qwen"]


def test_credit_burn_follows_the_shares_closely_and_returns_a_full_order() -> None:
    """First picks follow the plan's shares within a few picks at any count (a low-discrepancy sequence, not
    dice: after 1,000 picks dice would be off by ~15); every healthy candidate is still in the order, once."""
    _, routes, _ = setup()
    plan = RoutePlan(shares=(0.3, 1.0), share_to=(2, 1), price={0: 2.25, 1: 1.1, 2: 0.0}, rank={2: 0, 1: 1, 0: 2})
    ctx = router.StrategyContext(now=T0, rng=random.Random(5), plan=plan)
    firsts: Counter[str] = Counter()
    for n in range(1, 1_001):
        order = names(router.credit_burn(routes["chat"].choices, ctx))
        assert sorted(order) == ["ds", "glm", "qwen"]
        firsts[order[0]] += 1
        assert abs(firsts["glm"] - 0.3 * n) <= 3
    assert firsts["ds"] == 0


def test_credit_burn_past_the_shares_goes_by_marginal_cost() -> None:
    """Requests past the planned shares, or whose pick is unhealthy, go in the plan's order (what the next
    token costs now); a candidate the plan leaves out (over a spend cap) is not tried at all."""
    _, routes, _ = setup()
    plan = RoutePlan(shares=(0.25,), share_to=(2,), rank={1: 0, 2: 1})
    ctx = router.StrategyContext(now=T0, rng=random.Random(5), plan=plan)
    orders = Counter(tuple(names(router.credit_burn(routes["chat"].choices, ctx))) for _ in range(400))
    assert orders == {("glm", "qwen"): 100, ("qwen", "glm"): 300}
    healthy = [c for c in routes["chat"].choices if c.provider_name != "glm"]
    assert {tuple(names(router.credit_burn(healthy, ctx))) for _ in range(20)} == {("qwen",)}


def test_credit_burn_is_deterministic_given_the_plan() -> None:
    """Two plans made at the same moment from the same ledger give the same orders."""
    _, routes, _ = setup()
    runs = []
    for _ in range(2):
        plan, _ = plan_now()
        ctx = router.StrategyContext(now=T0, rng=random.Random(), plan=plan.routes["chat"])
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


def test_lowest_latency_remeasures_a_slower_candidate_now_and_then() -> None:
    """Lowest-latency puts the fastest first, but about one request in 50 goes first to a slower one, so a
    candidate that stalled once is measured again and wins back its place when it is fast again."""
    _, routes, _ = setup()
    choices = routes["chat"].choices
    latency = {c.index: 10.0 * (c.index + 1) for c in choices}  # candidate 0 fastest
    latency[0] = 500.0  # ... until it stalled once
    rng = random.Random(7)

    def first() -> int:
        ctx = router.StrategyContext(now=T0, rng=rng)
        ctx.health = {i: Health(available=True, latency_ms=ms) for i, ms in latency.items()}
        order = router.lowest_latency(choices, ctx)
        assert sorted(c.index for c in order) == [c.index for c in choices]
        if order[0].index == 0:  # it serves fast again: its EWMA moves back down
            latency[0] = 0.2 * 5.0 + 0.8 * latency[0]
        return order[0].index

    recovered = next((n for n in range(10_000) if first() == 0 and latency[0] < 20.0), None)
    assert recovered is not None  # re-measured (~1 request in 100 here) until it was the fastest again
    after = Counter(first() for _ in range(1000))
    assert 960 <= after[0] <= 995  # ... then it takes the traffic, less the re-measuring share
