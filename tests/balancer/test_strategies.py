"""Strategies: ``cheapest`` by effective price, ``credit-burn`` by the planner's shares and order, and
``lowest-latency``'s re-measuring."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from typing import Any

import pytest

from balancer import router
from balancer.config import Limits
from balancer.config_failover import Breaker
from balancer.credit.plan import Plan, RoutePlan
from balancer.state.memory import MemoryStore
from tests.balancer.credit.planning import T0, book_chat_forecast, credit_config, ds_b_pack, plan_now, setup
from tests.conftest import GatewayHandle


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
    """First picks follow the plan's shares within one pick at any count (a round robin, not dice: after 1,000
    picks dice would be off by ~15); every healthy candidate is still in the order, once."""
    _, routes, _ = setup()
    plan = RoutePlan(shares=(0.3, 1.0), share_to=(2, 1), price={0: 2.25, 1: 1.1, 2: 0.0}, rank={2: 0, 1: 1, 0: 2})
    ctx = router.StrategyContext(now=T0, rng=random.Random(5), plan=plan)
    firsts: Counter[str] = Counter()
    for n in range(1, 1_001):
        order = names(router.credit_burn(routes["chat"].choices, ctx))
        assert sorted(order) == ["ds", "glm", "qwen"]
        firsts[order[0]] += 1
        assert abs(firsts["glm"] - 0.3 * n) <= 1
    assert firsts["ds"] == 0


def test_credit_burn_weighs_each_pick_by_its_requests_tokens() -> None:
    """The shares are the plan's tokens, so a pick weighs its request's tokens: with requests of unlike sizes (a
    short chat turn, a long document, in a cycle and at random) each candidate's first-pick tokens stay within the
    largest request of its share of every token so far. Weighed by count, the 0.75 share below takes three requests
    in four of the cycle, one short and both longs: 99% of the tokens."""
    _, routes, _ = setup()
    rng = random.Random(7)
    cycle = itertools.cycle([300.0, 20_000.0])
    for sizes in (lambda: next(cycle), lambda: rng.choice([50.0, 400.0, 8_000.0, 30_000.0])):
        plan = RoutePlan(shares=(0.75,), share_to=(2,), rank={1: 0, 2: 1, 0: 2})
        on_pick: Counter[str] = Counter()
        total = 0.0
        for _ in range(2_000):
            tokens = sizes()
            ctx = router.StrategyContext(now=T0, rng=rng, plan=plan, tokens=tokens)
            on_pick[names(router.credit_burn(routes["chat"].choices, ctx))[0]] += tokens
            total += tokens
            assert abs(on_pick["glm"] - 0.75 * total) <= 30_000, (on_pick, total)
        assert set(on_pick) == {"glm", "qwen"}


def test_picks_keep_their_shares_across_re_plans_that_move_them() -> None:
    """Re-plans that move the shares' intervals (new shares, another order) neither restart nor skip anyone's
    turn: over 300 plans of 1–12 picks each, every candidate's picks, and those past the shares, stay within 2
    of the shares it was planned, summed pick by pick. A small share is never starved for a run of plans."""
    rng = random.Random(3)
    before: dict[str, RoutePlan] = {}
    got: Counter[int | None] = Counter()
    owed: Counter[int | None] = Counter()
    for _ in range(300):
        weights: dict[int | None, float] = {0: 0.075, 1: rng.uniform(0.2, 0.6)}
        weights[2] = 0.9 - weights[0] - weights[1]
        weights[None] = 0.1
        to = tuple(rng.sample([0, 1, 2], 3))
        cum = tuple(itertools.accumulate(weights[i] for i in to))
        plan = Plan(made_at=T0, routes={"r": RoutePlan(shares=cum, share_to=to)}).continuing(before)
        before = dict(plan.routes)
        for _ in range(rng.randint(1, 12)):
            got[before["r"].next_pick()] += 1
            owed.update(weights)
            assert all(abs(got[i] - owed[i]) <= 2 for i in weights), (got, owed)


def test_a_candidate_a_plan_stops_drawing_loses_its_credit() -> None:
    """Only the candidates a plan still draws keep their credit: one the last plan drew and this one does not is
    forgotten, so it starts level when a later plan draws it again."""
    first = Plan(made_at=T0, routes={"r": RoutePlan(shares=(0.5, 1.0), share_to=(0, 1))})
    pick = first.routes["r"].next_pick()
    assert pick == 0 and first.routes["r"].credit == {0: -0.5, 1: 0.5, -1: 0.0}
    second = Plan(made_at=T0, routes={"r": RoutePlan(shares=(1.0,), share_to=(1,))}).continuing(first.routes)
    assert second.routes["r"].credit == {1: 0.5, -1: 0.0}
    assert second.routes["r"].next_pick() == 1


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


async def test_lowest_latency_remeasures_a_slower_candidate_now_and_then() -> None:
    """Lowest-latency puts the fastest first, but about one request in 50 goes first to a slower one, so a
    candidate that stalled once is measured again (its EWMA in the real store moves only when it serves)
    and wins back its place when it is fast again."""
    _, routes, _ = setup()
    route, store, breaker, rng = routes["chat"], MemoryStore(), Breaker(), random.Random(7)
    fast = {c.index: 10.0 * (c.index + 1) for c in route.choices}  # candidate 0 is the fastest ...

    async def serve(c: router.Choice, ms: float) -> None:
        adm = await store.admit(c.provider_name, c.model, Limits(), 10, breaker, T0)
        await store.settle(adm, 10, "ok", ms, breaker, T0)

    for c in route.choices:  # ... but its first answer stalled
        await serve(c, 500.0 if c.index == 0 else fast[c.index])

    async def first() -> int:
        ordered, _ = router.order(route, store, T0, rng, "lowest-latency")
        assert sorted(c.index for c in ordered) == [c.index for c in route.choices]
        await serve(ordered[0], fast[ordered[0].index])
        return ordered[0].index

    firsts = [await first() for _ in range(3000)]
    back = firsts.index(0)  # re-measured (~1 request in 100 here) ...
    assert 0 < back < 1000
    settled = Counter(firsts[-1000:])
    assert 960 <= settled[0] <= 995  # ... until it was the fastest again; then it takes the traffic


async def test_credit_burn_through_the_gateway_gives_a_grant_its_share_of_tokens(
    make_gateway: Any, emulator: Any
) -> None:
    """Through the gateway with the real SDK, a route whose requests alternate a short turn and a ~7,000-token
    document: the 100M pack the plan gives 75% of the route's tokens (its provider can take 60% of the forecast,
    drawn 1.25x) serves 75% of the tokens the emulator counts, within about one document. Picks weighed by count
    gave it 75% of the requests and, the cycle's phase deciding, half the tokens here (99% in the test above)."""
    gw: GatewayHandle = await make_gateway(ds_b_pack(10**8))
    book_chat_forecast(gw.gw.ledger, gw.clock())  # the forecast: 10M tokens/hour on the route
    await gw.gw.replan()
    assert gw.gw.plan is not None and gw.gw.plan.routes["chat"].shares[0] == pytest.approx(0.75, abs=0.01)
    before = await emulator.stats()
    client = gw.client()
    document = "桥梁把两岸连在一起。" * 700  # 7,000 characters: ~7,000 tokens
    for n in range(40):
        content = document if n % 2 else "你好！"
        await client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": content}], max_tokens=8
        )
    stats = await emulator.stats()
    served = {
        name: stats[name]["total_tokens"] - before.get(name, {}).get("total_tokens", 0)
        for name in ("deepseek.b", "qwen")
    }
    assert served["deepseek.b"] / sum(served.values()) == pytest.approx(0.75, abs=0.08), served
