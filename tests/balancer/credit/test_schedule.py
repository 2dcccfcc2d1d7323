"""The credit-burn schedule: the LP over the forecast, on small problems whose optimum is known by hand."""

from __future__ import annotations

import pytest

from balancer.credit.horizon import H, PlannedGrant, Slot, nowcast, segments
from balancer.credit.lp import BONUS, BURN, solve
from balancer.credit.pricing import Grant
from balancer.credit.schedule import Offer, Problem, Warm

T0 = 1_000 * 86400.0  # midnight UTC
DAY = 86400.0


def grant(
    provider: str, tokens: float, days: float, pairs: list[tuple[str, int]], unit: str = "tokens", margin: float = 0
) -> PlannedGrant:
    g = Grant(provider, "g-" + provider, unit, int(tokens), frozenset(), 0.0, T0 + days * DAY)  # type: ignore[arg-type]
    return PlannedGrant(g, tokens, T0, T0 + (1 - margin) * days * DAY, tuple(pairs))


def problem(
    cands: list[Offer],
    demand: float,
    cap: dict[str, float],
    grants: list[PlannedGrant] = (),  # type: ignore[assignment]
    days: float = 10,
    down: frozenset[str] = frozenset(),
) -> Problem:
    slots, bounds = segments(T0, grants, T0 + days * DAY)
    return Problem(slots, bounds, {"r": cands}, {"r": [demand] * len(slots)}, cap, grants, down)


CHEAP, DEAR = Offer(0, "a", "m", 1.0), Offer(1, "b", "m", 2.0)


def test_paid_traffic_fills_the_cheapest_within_its_capacity() -> None:
    """Demand goes to the cheapest candidate up to its provider's capacity, the rest to the next; the
    capacity's dual is what one more token of it would save (the price gap)."""
    s = solve(problem([CHEAP, DEAR], demand=150.0, cap={"a": 100.0, "b": float("inf")}))
    assert s.status == "optimal"
    assert s.now[("r", 0)] == pytest.approx((100.0, 0.0)) and s.now[("r", 1)] == pytest.approx((50.0, 0.0))
    assert s.mu["a"] == pytest.approx(1.0) and s.unserved == pytest.approx(0.0)


def test_grant_is_spent_whole_inside_its_window() -> None:
    """A grant its provider can burn in time is spent completely, and nothing of it after it expires."""
    g = grant("b", 500.0, days=4, pairs=[("r", 1)])
    s = solve(problem([CHEAP, DEAR], demand=20.0, cap={"a": 100.0, "b": 100.0}, grants=[g]))
    assert sum(s.burn[g.key]) == pytest.approx(500.0)
    pb = problem([CHEAP, DEAR], demand=20.0, cap={"a": 100.0, "b": 100.0}, grants=[g])
    after = [seg for seg in range(len(pb.bounds) - 1) if pb.bounds[seg] >= g.grant.expires]
    assert after and all(s.burn[g.key][seg] == 0 for seg in after)


def test_grant_is_spent_early_when_that_costs_nothing() -> None:
    """Among equally cheap schedules the one that spends grants first wins: the current hour takes all it can."""
    g = grant("b", 500.0, days=4, pairs=[("r", 1)])
    s = solve(problem([CHEAP, DEAR], demand=20.0, cap={"a": 100.0, "b": 100.0}, grants=[g]))
    assert s.now[("r", 1)] == pytest.approx((0.0, 20.0))


def test_grant_too_big_for_its_capacity_is_wasted_not_chased() -> None:
    """A grant that cannot finish even at full capacity takes all of it and ends with the rest unspent;
    a second grant on another provider is still spent completely."""
    big = grant("a", 10_000.0, days=2, pairs=[("r", 0)])
    small = grant("b", 1_000.0, days=2, pairs=[("r", 1)])
    s = solve(problem([CHEAP, DEAR], demand=150.0, cap={"a": 100.0, "b": 100.0}, grants=[big, small], days=3))
    assert sum(s.burn[big.key]) == pytest.approx(100.0 * 48)
    assert sum(s.burn[small.key]) == pytest.approx(1_000.0)
    assert s.lam[big.key] == pytest.approx(0.0)  # more of it would be worth nothing: it is not binding


def test_safety_margin_is_given_up_before_any_waste() -> None:
    """A grant planned to finish before its margin uses the margin too when it must, rather than waste."""
    g = grant("a", 100.0 * 46, days=2, pairs=[("r", 0)], margin=0.1)  # 43.2 h before the margin
    s = solve(problem([CHEAP], demand=100.0, cap={"a": 100.0}, grants=[g], days=3))
    assert sum(s.burn[g.key]) == pytest.approx(100.0 * 46)


def test_money_grant_counts_its_tokens_at_list_price() -> None:
    """A money grant (µ¥) pays for as many tokens as its amount buys at the candidate's price."""
    g = grant("b", 1_000.0, days=4, pairs=[("r", 1)], unit="money")  # 1,000 µ¥ at 2 µ¥/token: 500 tokens
    s = solve(problem([CHEAP, DEAR], demand=20.0, cap={"a": 100.0, "b": 100.0}, grants=[g]))
    assert sum(s.burn[g.key]) == pytest.approx(1_000.0)
    assert s.now[("r", 1)] == pytest.approx((0.0, 20.0))


def test_unavailable_candidate_gets_nothing_now_and_its_grant_waits() -> None:
    """A candidate down now is planned nothing this hour; its grant is planned for the hours after."""
    g = grant("b", 500.0, days=4, pairs=[("r", 1)])
    pb = problem([CHEAP, DEAR], demand=20.0, cap={"a": 100.0, "b": 100.0}, grants=[g], down=frozenset({"b/m"}))
    s = solve(pb)
    assert ("r", 1) not in s.now and s.now[("r", 0)] == pytest.approx((20.0, 0.0))
    assert sum(s.burn[g.key]) == pytest.approx(500.0)


def test_over_a_spend_cap_no_paid_use_now() -> None:
    """A candidate whose provider is over its paid spend cap gets no paid traffic this hour."""
    capped = Offer(0, "a", "m", 1.0, paid_ok=False)
    s = solve(problem([capped, DEAR], demand=50.0, cap={"a": 100.0, "b": 100.0}))
    assert ("r", 0) not in s.now and s.now[("r", 1)] == pytest.approx((50.0, 0.0))


def test_more_demand_than_capacity_is_reported_unserved() -> None:
    """Demand no candidate has room for is left unserved (and counted), never forced over a limit."""
    s = solve(problem([CHEAP], demand=150.0, cap={"a": 100.0}, days=1))
    assert s.now[("r", 0)] == pytest.approx((100.0, 0.0)) and s.unserved == pytest.approx(50.0 * 24, rel=1e-6)


def test_warm_start_gives_the_same_schedule() -> None:
    """A solve from the previous basis finds the same optimum as a cold one."""
    g = grant("b", 3_000.0, days=4, pairs=[("r", 1)])
    pb = problem([CHEAP, DEAR], demand=120.0, cap={"a": 100.0, "b": 40.0}, grants=[g])
    warm = Warm()
    cold = solve(pb, warm)
    assert warm.basis is not None
    again = solve(pb, warm)
    assert again.now.keys() == cold.now.keys()
    assert all(again.now[k] == pytest.approx(v) for k, v in cold.now.items())
    assert again.burn[g.key] == pytest.approx(cold.burn[g.key])


def test_segments_put_the_current_hour_alone_first() -> None:
    """The current hour is its own segment (one slot of weight 1); later segments cut at grant marks and
    hold each hour of day as often as it occurs."""
    g = grant("a", 1.0, days=2, pairs=[("r", 0)])
    now = T0 + 5.5 * H
    slots, bounds = segments(now, [g], T0 + 3 * DAY)
    assert slots[0] == Slot(0, 5, 1.0) and bounds[:2] == [T0 + 5 * H, T0 + 6 * H]
    assert T0 + 2 * DAY in bounds
    assert sum(s.weight for s in slots) == pytest.approx((bounds[-1] - bounds[0]) / H)


def test_nowcast_trusts_the_hour_so_far_after_a_quarter() -> None:
    """The rest of the current hour is forecast from the rate seen in it: blended with the hour-of-day
    forecast for the first quarter hour, alone after."""
    assert nowcast(100.0, seen=0, elapsed=0.0) == 100.0
    assert nowcast(100.0, seen=50, elapsed=0.25) == pytest.approx(200.0)
    assert nowcast(100.0, seen=25, elapsed=0.125) == pytest.approx(0.5 * 200.0 + 0.5 * 100.0)
    assert nowcast(100.0, seen=0, elapsed=0.5) == 0.0


def test_grants_competing_for_demand_go_earliest_expiry_first() -> None:
    """Two grants that together need all of a route's demand: the one expiring first is spent first (now),
    the later one after it, and neither is wasted."""
    early = grant("a", 100.0 * 48, days=2, pairs=[("r", 0)])
    late = grant("b", 100.0 * 96, days=6, pairs=[("r", 1)])
    cheap_a, cheap_b = Offer(0, "a", "m", 2.0), Offer(1, "b", "m", 2.0)
    pb = problem([cheap_a, cheap_b], demand=100.0, cap={"a": 100.0, "b": 100.0}, grants=[early, late], days=7)
    s = solve(pb)
    assert s.now[("r", 0)] == pytest.approx((0.0, 100.0)) and ("r", 1) not in s.now
    assert sum(s.burn[early.key]) == pytest.approx(4_800.0) and sum(s.burn[late.key]) == pytest.approx(9_600.0)


def test_a_grant_debited_first_closes_when_a_later_one_on_its_models_expires() -> None:
    """In the vendor's debit order, a grant before one that expires sooner (same account, shared models)
    must be gone by then; one on other models, another account's, or an earlier-expiring one is unchanged."""
    from balancer.credit.horizon import _in_debit_order

    first = grant("a", 100.0, days=9, pairs=[("r", 0)])  # listed first, expires on day 9
    later = grant("a", 100.0, days=3, pairs=[("r", 0), ("r", 1)])  # debited after it, expires on day 3
    other_models = grant("a", 100.0, days=9, pairs=[("r", 2)])
    other_account = grant("b", 100.0, days=9, pairs=[("r", 0)])
    out = _in_debit_order([first, other_models, other_account, later])
    assert out[0].until == later.grant.expires and out[0].end == later.end
    assert [g.until for g in out[1:]] == [T0 + 9 * DAY, T0 + 9 * DAY, T0 + 3 * DAY]
    assert _in_debit_order([later, first])[1].until == T0 + 9 * DAY  # earliest expiry first: nothing to do


def test_the_hour_a_grant_runs_out_its_successor_pays_too() -> None:
    """Provider a (100 tokens/hour) debits grant ``first`` (expires on day 2) before ``then`` (day 6) on the same
    model. With 30 tokens of ``first`` left, the rest of the hour can use it up, so ``then`` may pay now as well
    and the hour is planned full (30 + 70, nothing to the dear paid candidate); with 300 left it cannot, so
    ``then`` waits and ``first`` alone pays now (the vendor debits it for every token this hour)."""
    for left, now_first, now_then in ((30.0, 30.0, 70.0), (300.0, 100.0, 0.0)):
        first = grant("a", left, days=2, pairs=[("r", 0)])
        then = PlannedGrant(
            Grant("a", "then", "tokens", 10_000, frozenset(), 0.0, T0 + 6 * DAY), 10_000, T0, T0 + 6 * DAY, (("r", 0),)
        )
        pb = problem([Offer(0, "a", "m", 1.0), DEAR], demand=100.0, cap={"a": 100.0, "b": 1e9}, grants=[first, then])
        assert pb.payers()[("r", 0)] == ({0, 1} if left < 100 else {0})
        s = solve(pb)
        assert s.grant_now.get(first.key, 0.0) == pytest.approx(now_first)
        assert s.grant_now.get(then.key, 0.0) == pytest.approx(now_then, abs=1e-6)
        assert ("r", 1) not in s.now


def test_a_voucher_is_judged_used_up_on_its_cheapest_model() -> None:
    """A voucher on both of provider a's models (max at 21 µ¥/token, lite at 1) before a pack on max: 500 µ¥ left
    would go in the hour on max (100 tokens = 2,100 µ¥) but not on lite (100 µ¥), so the pack may not pay for max
    now: the vendor would debit the voucher for every max token while lite keeps it alive. With 50 µ¥ left the
    hour uses it up on either model, and the pack may pay too."""
    cands = [Offer(0, "a", "max", 21.0), Offer(1, "a", "lite", 1.0)]
    pack = PlannedGrant(
        Grant("a", "pack", "tokens", 10_000, frozenset(), 0.0, T0 + 6 * DAY), 10_000, T0, T0 + 6 * DAY, (("r", 0),)
    )
    for left, payers in ((500.0, {0}), (50.0, {0, 1})):
        voucher = grant("a", left, days=2, pairs=[("r", 0), ("r", 1)], unit="money")
        pb = problem(cands, demand=100.0, cap={"a": 100.0}, grants=[voucher, pack])
        assert pb.payers()[("r", 0)] == payers and pb.payers()[("r", 1)] == {0}


def two_routes(unserved: dict[str, float]) -> Problem:
    """Routes r and q, each needing 80 tokens/hour, share provider a (100/hour); nothing else serves them."""
    slots, bounds = segments(T0, [], T0 + DAY)
    offers = {"r": [Offer(0, "a", "m", 1.0)], "q": [Offer(0, "a", "m", 1.0)]}
    demand = {r: [80.0] * len(slots) for r in offers}
    return Problem(slots, bounds, offers, demand, {"a": 100.0}, [], unserved=unserved)


def test_capacity_goes_to_the_route_whose_unserved_demand_costs_more() -> None:
    """When two routes cannot both be served, the one with the dearer unserved price gets its demand served
    and the other's shortfall is reported; swap the prices and the shortfall moves."""
    s = solve(two_routes({"r": 50.0, "q": 5.0}))
    assert s.now[("r", 0)] == pytest.approx((80.0, 0.0)) and s.now[("q", 0)] == pytest.approx((20.0, 0.0))
    assert s.unserved == pytest.approx(60.0 * 24, rel=1e-6)
    s = solve(two_routes({"r": 5.0, "q": 50.0}))
    assert s.now[("q", 0)] == pytest.approx((80.0, 0.0)) and s.now[("r", 0)] == pytest.approx((20.0, 0.0))


def test_serving_at_the_unserved_price_beats_leaving_it() -> None:
    """A candidate that costs exactly the route's unserved price still serves the demand (the tie goes to
    serving): unserved demand is priced a hair above."""
    s = solve(problem([DEAR], demand=30.0, cap={"b": float("inf")}, days=1))
    assert s.unserved == pytest.approx(0.0)
    pb = problem([DEAR], demand=30.0, cap={"b": float("inf")}, days=1)
    s = solve(Problem(pb.slots, pb.bounds, pb.routes, pb.demand, pb.cap, pb.grants, unserved={"r": DEAR.price}))
    assert s.unserved == pytest.approx(0.0) and s.now[("r", 1)] == pytest.approx((30.0, 0.0))


def test_paths_keep_a_grant_for_the_high_path_peaks() -> None:
    """Two demand paths after the current hour, equally likely: a low one (20/hour, the cheap provider
    serves it all) and a high one (120/hour, 20 over the cheap provider's limit). A grant on the dear
    provider that cannot cover both now and the high path's overflow is kept for the overflow: nothing of it
    is spent now, where it would save only the cheap price. A unit of it is worth what it saves on each path
    weighed by the path's probability (the dear price on the high one, the cheap on the low one), plus the
    reward for a unit burned."""
    g = grant("b", 20.0 * 24 * 3, days=4, pairs=[("r", 1)])
    slots, bounds = segments(T0, [g], T0 + 4 * DAY)
    later = [Slot(s.seg, s.hod, s.weight, 0, 0.5, k) for k in (0, 1) for s in slots[1:]]
    demand = [20.0] + [20.0 if k == 0 else 120.0 for k in (0, 1) for _ in slots[1:]]
    pb = Problem(
        [slots[0], *later], bounds, {"r": [CHEAP, DEAR]}, {"r": demand}, {"a": 100.0, "b": 100.0}, [g], paths=2
    )
    s = solve(pb)
    assert s.now[("r", 0)] == pytest.approx((20.0, 0.0)) and ("r", 1) not in s.now
    assert s.lam[g.key] == pytest.approx(0.5 * DEAR.price + 0.5 * CHEAP.price + BURN, abs=3 * BONUS)


def on_a(
    name: str, unit: str, size: float, days: float, pairs: tuple[tuple[str, int], ...] = (("r", 0),)
) -> PlannedGrant:
    """A grant of provider a (its own name, so two can sit on one account) open from T0 for ``days``."""
    g = Grant("a", name, unit, int(size), frozenset(), 0.0, T0 + days * DAY)  # type: ignore[arg-type]
    return PlannedGrant(g, size, T0, T0 + days * DAY, pairs)


def behind_a_pack(pack: float) -> Problem:
    """Route r on provider a (5 µ¥/token, 100/hour) or c (a 10,000-token pack for 4 days, 100/hour), 20
    tokens/hour: a ``pack``-token pack on a, then a 1,000 µ¥ voucher (200 tokens), both for 2 days. Nothing need
    be paid; the voucher's units are worth burning, and c's pack outlasts a's."""
    c = PlannedGrant(
        Grant("c", "pack", "tokens", 10_000, frozenset(), 0.0, T0 + 4 * DAY), 10_000, T0, T0 + 4 * DAY, (("r", 1),)
    )
    grants = [on_a("pack", "tokens", pack, 2), on_a("voucher", "money", 1_000.0, 2), c]
    return problem(
        [Offer(0, "a", "m", 5.0), Offer(1, "c", "m", 5.0)],
        demand=20.0,
        cap={"a": 100.0, "c": 100.0},
        grants=grants,
        days=4,
    )


def test_a_grant_behind_another_on_its_models_is_known() -> None:
    """The pairs the vendor debits one grant only after another: later in the debit order, on the same provider
    and pairs, the earlier one closing no later. Another model, another provider or an earlier one that outlives
    the later are not such pairs."""
    assert behind_a_pack(100.0).behind() == [(0, 1, frozenset({("r", 0)}))]
    other = on_a("other", "tokens", 100.0, 2, pairs=(("r", 1),))
    longer = on_a("pack", "tokens", 100.0, 3)
    for grants in ([other, on_a("voucher", "money", 1_000.0, 2)], [longer, on_a("voucher", "money", 1_000.0, 2)]):
        pb = problem([Offer(0, "a", "m", 5.0), Offer(1, "a", "n", 5.0)], demand=20.0, cap={"a": 100.0}, grants=grants)
        assert pb.behind() == []


def test_a_voucher_behind_a_pack_is_planned_with_the_pack_spent_whole() -> None:
    """The voucher is worth spending (its ¥ burn), and the vendor reaches it only once the pack is gone: the
    schedule spends the pack whole and the voucher too. Planned side by side, c's pack (ending later, so
    its early reward is larger at every hour) took the pack's share and the voucher was planned unreachable."""
    pb = behind_a_pack(100.0)
    s = solve(pb)
    assert sum(s.burn["a/pack"]) == pytest.approx(100.0) and sum(s.burn["a/voucher"]) == pytest.approx(1_000.0)


def test_a_voucher_behind_a_pack_that_cannot_be_spent_gets_nothing() -> None:
    """A pack of 10,000 tokens cannot be spent in its 2 days at 100/hour: the vendor never reaches the voucher
    behind it, and the schedule plans nothing of the voucher (side by side it planned all of it)."""
    s = solve(behind_a_pack(10_000.0))
    assert sum(s.burn["a/voucher"]) == pytest.approx(0.0, abs=1e-6)


def test_the_hours_first_replan_settles_a_waiting_grant_for_the_rest_of_the_hour() -> None:
    """What the first re-plan of an hour chose for a waiting pair (the pack spent whole, or the voucher kept off)
    is kept in ``Warm.waits`` and a re-plan in the same hour starts from it, to the same schedule."""
    for pack, whole in ((100.0, True), (10_000.0, False)):
        warm = Warm()
        first = solve(behind_a_pack(pack), warm)
        assert warm.waits == {("a/pack", "a/voucher"): (int(T0 // H), whole)}
        again = solve(behind_a_pack(pack), warm)
        assert all(again.burn[k] == pytest.approx(v) for k, v in first.burn.items())
        assert warm.waits[("a/pack", "a/voucher")][1] is whole
