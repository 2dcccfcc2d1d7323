"""The offline optimum (``balancer.credit.bound``) on tiny hand-made configs and traces, checked by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from balancer import config as config_mod
from balancer.credit.bound import hourly, robust, solve, unserved_price
from balancer.credit.ledger import books_from_config
from balancer.credit.trace import PriceChange, Trace
from tests.balancer.credit.sim_cases import T0, config, day, trace


def test_serves_what_fits_and_prices_the_rest_at_the_dearest_candidate() -> None:
    """With both providers at 60k tokens/hour and 200k asked for, the bound serves 120k an hour (60k at 1 µ¥,
    60k at 4 µ¥) and leaves 80k unserved, priced by default at the dearest candidate's 4 µ¥ a token."""
    opt = solve(config(cheap_tpm=1000, dear_tpm=1000), trace(200_000, days=1))
    assert opt.status == "optimal"
    assert opt.paid_cny == pytest.approx(24 * (60_000 * 1 + 60_000 * 4) / 1e6)
    assert opt.unserved_tokens == pytest.approx(24 * 80_000)
    assert opt.unserved_cny == pytest.approx(24 * 80_000 * 4 / 1e6)


def test_a_configured_unserved_price_prices_the_rest_but_never_below_the_dearest() -> None:
    """A route's ``unserved_price`` (CNY/M) prices what cannot be served; one below the dearest candidate's
    list price is raised to it (dropping a token must never look cheaper than serving it)."""
    cfg = config(cheap_tpm=1000, dear_tpm=1000, unserved=10.0)
    opt = solve(cfg, trace(200_000, days=1))
    assert opt.unserved_cny == pytest.approx(24 * 80_000 * 10 / 1e6)
    assert unserved_price(cfg, books_from_config(cfg), "chat") == 10.0
    low = config(unserved=2.0)
    assert unserved_price(low, books_from_config(low), "chat") == 4.0


def test_serving_wins_a_tie_with_the_unserved_price() -> None:
    """When the unserved price equals the dearest candidate's, the bound still serves on it while it has room."""
    opt = solve(config(cheap_tpm=1000), trace(200_000, days=1))
    assert opt.unserved_tokens == pytest.approx(0.0, abs=1e-3)
    assert opt.paid_cny == pytest.approx(24 * (60_000 * 1 + 140_000 * 4) / 1e6)


def test_a_grant_is_used_only_inside_its_window() -> None:
    """A 5M-token grant valid on day 1 only pays for day 1's 2.4M tokens on the cheap candidate, none of
    day 0's; one that expired before the trace pays for nothing."""
    inside = [{"name": "pack", "tokens": 5_000_000, "models": ["glm-4-air"], "starts": day(1), "expires": day(1)}]
    opt = solve(config(grants=inside), trace(100_000, days=2))
    assert opt.burned == {"cheap/pack": pytest.approx(2_400_000)}
    assert opt.paid_cny == pytest.approx(2.4)  # day 0 at 1 µ¥ a token
    before = [{"name": "old", "tokens": 5_000_000, "expires": day(-1)}]
    opt = solve(config(grants=before), trace(100_000, days=2))
    assert opt.burned == {"cheap/old": 0.0} and opt.paid_cny == pytest.approx(4.8)


def test_a_money_grant_burns_at_the_price_of_what_it_pays_for() -> None:
    """A ¥1 voucher pays for 1M tokens at 1 µ¥ each; it is counted in µ¥."""
    voucher = [{"name": "v", "amount": 1.0}]
    opt = solve(config(grants=voucher), trace(100_000, days=1))
    assert opt.burned["cheap/v"] == pytest.approx(1_000_000)
    assert opt.paid_cny == pytest.approx(2.4 - 1.0)


@pytest.mark.parametrize("cheap_tpm", [0, 1000])
def test_among_the_cheapest_schedules_the_bound_burns_the_most(cheap_tpm: int) -> None:
    """A pack on a free model saves nothing, so serving the day on the pack or on the free model costs the
    same: the bound is the schedule that burns the pack (what a user would pick), as far as the model's
    capacity allows (unlimited; 60k of the 100k tokens an hour, the rest paid on the dear one), and "the
    optimum's burn" is that number, not the solver's choice of vertex."""
    pack = [{"name": "pack", "tokens": 5_000_000, "models": ["glm-4-air"]}]
    opt = solve(config(cheap_tpm=cheap_tpm, grants=pack, cheap_price=0.0), trace(100_000, days=1))
    served = 24 * min(100_000, cheap_tpm * 60 or 100_000)
    assert opt.burned == {"cheap/pack": pytest.approx(served)}
    assert opt.paid_cny == pytest.approx(24 * (100_000 - served / 24) * 4 / 1e6)


def test_a_price_change_mid_trace_reprices_the_hours_after_it() -> None:
    """At hour 24 the cheap model rises to 3 CNY/M and the dear one falls to 2: day 0 is served on the cheap
    one at 1 µ¥ a token, day 1 on the formerly dear one at 2 µ¥. With the rise alone, day 1 stays on the
    cheap one at 3 µ¥."""
    changes = (PriceChange(24, "cheap", "glm-4-air", 3.0, 3.0), PriceChange(24, "dear", "deepseek-chat", 2.0, 2.0))
    opt = solve(config(), trace(100_000, days=2, changes=changes))
    assert opt.paid_cny == pytest.approx(2.4 * 1 + 2.4 * 2)
    rise = (PriceChange(24, "cheap", "glm-4-air", 3.0, 3.0),)
    assert solve(config(), trace(100_000, days=2, changes=rise)).paid_cny == pytest.approx(2.4 * 1 + 2.4 * 3)


def test_a_grant_is_debited_while_it_lasts_even_where_paying_then_is_cheaper() -> None:
    """A 2.4M pack valid for both days, the cheap model rising from 1 to 3 CNY/M on day 1: the vendor debits the
    pack for day 0's tokens (nothing on glm-4-air is paid while it lasts), so the optimum pays day 1 at 3
    (¥7.2), not day 0 at 1 with the pack kept for day 1 (¥2.4, what the bound without the debit order finds)."""
    pack = [{"name": "pack", "tokens": 2_400_000, "models": ["glm-4-air"], "expires": day(1)}]
    rise = (PriceChange(24, "cheap", "glm-4-air", 3.0, 3.0),)
    opt = solve(config(grants=pack), trace(100_000, days=2, changes=rise))
    assert opt.paid_cny == pytest.approx(2.4 * 3)
    assert opt.burned == {"cheap/pack": pytest.approx(2_400_000)}
    assert solve(config(grants=pack), trace(100_000, days=2, changes=rise), debit_order=False).paid_cny == (
        pytest.approx(2.4 * 1)
    )


def test_a_debit_order_the_mip_cannot_settle_in_time_gives_the_lp_alone_and_says_so() -> None:
    """Past its time limit the debit order's MIP gives way to the LP: the optimum is the looser bound (¥2.4 for
    the price-rise case above, not ¥7.2) and ``debit_order`` is False, so no report passes it off as kept."""
    pack = [{"name": "pack", "tokens": 2_400_000, "models": ["glm-4-air"], "expires": day(1)}]
    tr = trace(100_000, days=2, changes=(PriceChange(24, "cheap", "glm-4-air", 3.0, 3.0),))
    loose = solve(config(grants=pack), tr, seconds=0.0)
    assert loose.status == "optimal" and not loose.debit_order
    assert loose.paid_cny == pytest.approx(2.4)
    kept = solve(config(grants=pack), tr)
    assert kept.debit_order and kept.paid_cny == pytest.approx(7.2)


def test_a_grant_listed_first_is_used_up_before_the_next_one_to_the_hour() -> None:
    """``debit_order: listed``, a 1M pack to day 1 listed before a 3M pack to day 0, 100k tokens an hour: the
    vendor debits the first for hours 0-9, the second for hours 10-23 (1.4M; the rest expires), and day 1 is
    paid (¥2.4). Without the debit order the second would take day 0 and the first day 1 (¥1.4). ``hourly`` gives
    the same hours, and with no time for the MIP the LP's, saying so (``debit_order`` False)."""
    packs = [
        {"name": "long", "tokens": 1_000_000, "models": ["glm-4-air"], "expires": day(1)},
        {"name": "short", "tokens": 3_000_000, "models": ["glm-4-air"], "expires": day(0)},
    ]
    cfg, tr = config(grants=packs, debit_order="listed"), trace(100_000, days=2)
    opt = solve(cfg, tr)
    assert opt.paid_cny == pytest.approx(2.4)
    assert opt.burned == {"cheap/long": pytest.approx(1_000_000), "cheap/short": pytest.approx(1_400_000)}
    sched = hourly(cfg, tr)
    assert sched.debit_order
    assert np.allclose(sched.flows[("cheap", "glm-4-air", "long")][0], [100_000] * 10 + [0] * 38, atol=1)
    assert np.allclose(sched.flows[("cheap", "glm-4-air", "short")][0], [0] * 10 + [100_000] * 14 + [0] * 24, atol=1)
    assert solve(cfg, tr, debit_order=False).paid_cny == pytest.approx(1.4)
    lp_alone = hourly(cfg, tr, seconds=0)  # the MIP out of time: the LP's hours, and the answer says so
    assert not lp_alone.debit_order
    paid = sum(float(c.sum()) for (_, _, bucket), (_, c) in lp_alone.flows.items() if bucket == "paid")
    assert paid == pytest.approx(1.4)


def test_an_outage_moves_the_hours_to_the_other_provider() -> None:
    """While the cheap provider is down (hours 0-5) the dear one serves; an outage of both leaves those hours
    unserved."""
    opt = solve(config(), trace(100_000, days=1, down={"cheap": list(range(6))}))
    assert opt.paid_cny == pytest.approx((6 * 100_000 * 4 + 18 * 100_000 * 1) / 1e6)
    both = {"cheap": [0, 1], "dear": [0, 1]}
    opt = solve(config(), trace(100_000, days=1, down=both))
    assert opt.unserved_tokens == pytest.approx(200_000) and opt.unserved_cny == pytest.approx(0.8)


U = 60_000  # tokens: a provider at tpm 1000 serves one U an hour


def _three(pack_grant: int = U) -> config_mod.Config:
    """``pack`` (a 1-U grant, 1 U/h), ``cheap`` (1 CNY/M, 1 U/h), ``dear`` (4 CNY/M, unlimited)."""
    prov = {
        "pack": ("qwen", "qwen-plus", 10.0, 1000, [{"name": "g", "tokens": pack_grant}]),
        "cheap": ("glm", "glm-4-air", 1.0, 1000, []),
        "dear": ("deepseek", "deepseek-chat", 4.0, 0, []),
    }
    raw = {
        "server": {"insecure_no_auth": True},
        "providers": {
            p: {"vendor": v, "limits": {"tpm": tpm}, "prices": {m: {"input": c, "output": c}}, "account": {"grants": g}}
            for p, (v, m, c, tpm, g) in prov.items()
        },
        "routes": {"chat": {"candidates": [{"provider": p, "model": m} for p, (_, m, *_) in prov.items()]}},
    }
    return config_mod.parse(raw, "test")


def _two_hours(first: float, second: float) -> Trace:
    return Trace(T0, 2, {"chat": np.array([first * U, second * U])}, {"chat": 0.75})


def test_robust_finds_the_best_shared_first_hour_against_twins_that_part() -> None:
    """Hour 0 asks 1 U, hour 1 asks 2 U (the grant saves a dear token then) or 0.5 U (a grant kept is half wasted).
    Spending a share a of the grant in hour 0 costs the first twin (2 + 3a)/2 of its optimum and the second
    (1 - a)/0.5 when a < 1/2: the best shared hour is a = 2/7, where both are 10/7 of their optimum."""
    cfg = _three()
    high, low = _two_hours(1, 2), _two_hours(1, 0.5)
    optima = [solve(cfg, high), solve(cfg, low)]
    assert [o.paid_cny for o in optima] == pytest.approx([2 * U / 1e6, 0.5 * U / 1e6])
    best = robust(cfg, [high, low], 1, optima)
    assert best.status == "optimal"
    assert best.ratio == pytest.approx(10 / 7, rel=1e-5)
    assert best.paid == pytest.approx((10 / 7 * 2 * U / 1e6, 10 / 7 * 0.5 * U / 1e6), rel=1e-5)
    assert best.unserved_tokens == pytest.approx((0.0, 0.0), abs=1e-3)


def test_robust_is_one_when_a_schedule_suits_every_twin() -> None:
    """When the second twin asks 1 U in hour 1, keeping the grant for hour 1 is optimal for both (ratio 1); with no
    shared hours each twin is planned on its own (ratio 1 for the 0.5-U twin as well)."""
    cfg = _three()
    for hours, twins in ((1, (_two_hours(1, 2), _two_hours(1, 1))), (0, (_two_hours(1, 2), _two_hours(1, 0.5)))):
        best = robust(cfg, list(twins), hours, [solve(cfg, t) for t in twins])
        assert best.ratio == pytest.approx(1.0, rel=1e-6)


def _hours(*demand: float) -> Trace:
    return Trace(T0, len(demand), {"chat": np.array(demand) * U}, {"chat": 0.75})


def test_robust_holds_a_tree_of_twins_that_part_on_different_hours() -> None:
    """A flat month (1, 1, 1 U) and three twins: A asks 2 U in hour 1 (parts after hour 0), B 2 U in hour 2
    (parts after hour 1), C 0.5 U then nothing (parts after hour 0). Hour 0's grant spending a is one decision
    for all four, hour 1's for the month and B: A and B pay 1 + a of their optimum (3 U at 1 CNY/M, the grant
    kept for their peak), C 2 - 2a (its optimum spends the grant in hour 0, as a grant kept is wasted), so the
    best tree spends a = 1/3 and reaches 4/3; the month itself stays at its optimum. A twin is tied for its own
    hours: a month (1, 1, 0 U) that must spend the grant by hour 1 and a twin (1, 1, 2 U) that keeps it for hour 2
    meet at 3/2 when they part after hour 1, and at 1 when they part after hour 0."""
    cfg = _three()
    traces = [_hours(1, 1, 1), _hours(1, 2, 1), _hours(1, 1, 2), _hours(1, 0.5, 0)]
    optima = [solve(cfg, t) for t in traces]
    assert [o.paid_cny * 1e6 / U for o in optima] == pytest.approx([2, 3, 3, 0.5])
    best = robust(cfg, traces, [1, 2, 1], optima)
    assert best.status == "optimal" and best.ratio == pytest.approx(4 / 3, rel=1e-5)
    assert [p * 1e6 / U for p in best.paid] == pytest.approx([2, 4, 4, 2 / 3], rel=1e-5)
    with pytest.raises(ValueError, match="differ before hour 2"):  # A differs from the month in hour 1
        robust(cfg, traces, [2, 2, 1], optima)
    with pytest.raises(ValueError, match="4 traces need 3 parting hours"):
        robust(cfg, traces, [1, 2], optima)
    pair = [_hours(1, 1, 0), _hours(1, 1, 2)]
    optima = [solve(cfg, t) for t in pair]
    assert robust(cfg, pair, [2], optima).ratio == pytest.approx(3 / 2, rel=1e-5)
    assert robust(cfg, pair, [1], optima).ratio == pytest.approx(1.0, rel=1e-5)


def test_robust_refuses_traces_that_differ_before_they_part() -> None:
    """Twins must ask the same in the shared hours: otherwise no schedule is one decision there."""
    cfg = _three()
    twins = [_two_hours(1, 2), _two_hours(0.5, 2)]
    with pytest.raises(ValueError, match="differ before hour 1"):
        robust(cfg, twins, 1, [solve(cfg, t) for t in twins])


def test_robust_refuses_twins_whose_outages_or_prices_differ_before_they_part() -> None:
    """An outage or a price change in the shared hours that only one twin has makes them two different pasts."""
    cfg = _three()
    base = _two_hours(1, 2)
    down = dataclasses.replace(base, down={"cheap": np.array([True, False])})
    price = dataclasses.replace(base, price_changes=(PriceChange(0, "cheap", "glm-4-air", 2.0, 2.0),))
    for other, what in ((down, "outages"), (price, "prices")):
        with pytest.raises(ValueError, match=what):
            robust(cfg, [base, other], 1, [solve(cfg, base), solve(cfg, other)])
    later = dataclasses.replace(base, down={"cheap": np.array([False, True])})  # after they part: allowed
    assert robust(cfg, [base, later], 1, [solve(cfg, base), solve(cfg, later)]).status == "optimal"


def test_hourly_gives_each_hour_of_the_optimum_per_model_and_bucket() -> None:
    """Hour 0 asks 1 U and hour 1 asks 2 U: the optimum serves hour 0 on ``cheap`` (paid, 1 CNY/M) and hour 1 on
    ``cheap`` and the grant on ``pack`` (spent there, where the only other room is ``dear`` at 4); ``dear`` serves
    nothing. CNY only for the paid bucket, and its sum is solve's paid."""
    cfg = _three()
    answer = hourly(cfg, _two_hours(1, 2))
    flows = answer.flows
    assert answer.debit_order
    tokens, cny = flows["cheap", "glm-4-air", "paid"]
    assert tokens == pytest.approx([U, U]) and cny == pytest.approx([U / 1e6, U / 1e6])
    tokens, cny = flows["pack", "qwen-plus", "g"]
    assert tokens == pytest.approx([0.0, U], abs=1e-3) and cny == pytest.approx([0.0, 0.0])
    assert flows["dear", "deepseek-chat", "paid"][0] == pytest.approx([0.0, 0.0], abs=1e-3)
    paid = sum(float(c.sum()) for (_, _, bucket), (_, c) in flows.items() if bucket == "paid")
    assert paid == pytest.approx(solve(cfg, _two_hours(1, 2)).paid_cny)


def test_hourly_refuses_a_schedule_the_solver_did_not_find() -> None:
    """An LP that ends other than optimal (here infeasible: an hour of negative demand) raises ValueError naming
    the solver's status, instead of returning its zeros as the optimum's hours."""
    with pytest.raises(ValueError, match="the optimum's LP ended 'Infeasible'"):
        hourly(_three(), _two_hours(1, -2))
