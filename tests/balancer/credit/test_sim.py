"""The credit simulation (``balancer.sim``) on tiny hand-made configs and traces, checked by hand."""

from __future__ import annotations

import asyncio
import dataclasses
import math

import numpy as np
import pytest

from balancer import config as config_mod
from balancer.config import Config
from balancer.credit.bound import solve
from balancer.credit.forecast import fit
from balancer.credit.ledger import MemoryLedger, books_from_config
from balancer.credit.planner import make_plan
from balancer.credit.trace import PriceChange, Trace
from balancer.sim import FORESIGHT, LEVEL, SHAPE, SimResult, foresight, known_level, known_shape, simulate
from tests.balancer.credit.planning import spark_voucher_and_pack
from tests.balancer.credit.sim_cases import config, day, trace


def sim(cfg: Config, t: Trace, strategy: str) -> SimResult:
    return asyncio.run(simulate(cfg, t, strategy, requests_per_hour=4, replan_minutes=15))


def test_demand_beyond_every_providers_capacity_is_unserved_and_priced() -> None:
    """Both providers at 60k tokens/hour, 200k asked for: whatever the order, 120k an hour is served and 80k
    is unserved, priced at the dearest candidate's 4 µ¥; the spend equals the bound's."""
    cfg, t = config(cheap_tpm=1000, dear_tpm=1000), trace(200_000, days=1)
    for name in ("priority", "cheapest", "credit-burn"):
        res = sim(cfg, t, name)
        assert res.unserved_tokens == pytest.approx(24 * 80_000)
        assert res.unserved_cny == pytest.approx(24 * 80_000 * 4 / 1e6)
        assert res.paid_cny == pytest.approx(solve(cfg, t).paid_cny)


def test_an_outage_leaves_the_provider_out() -> None:
    """While the cheap provider is down, priority order falls to the dear one; with both down, demand is
    unserved and priced at the configured unserved price."""
    res = sim(config(), trace(100_000, days=1, down={"cheap": list(range(6))}), "priority")
    assert res.paid_cny == pytest.approx((6 * 100_000 * 4 + 18 * 100_000) / 1e6) and res.unserved_tokens == 0
    res = sim(config(unserved=10.0), trace(100_000, days=1, down={"cheap": [3], "dear": [3]}), "priority")
    assert res.unserved_tokens == pytest.approx(100_000) and res.unserved_cny == pytest.approx(1.0)


def test_a_price_change_takes_effect_at_its_hour() -> None:
    """The cheap model rises to 5 CNY/M at hour 24: priority keeps paying it (day 1 at 5 µ¥); the cost
    strategies learn of the change at that hour and move day 1 to the dear one at 4 µ¥, as the bound does."""
    t = trace(100_000, days=2, changes=(PriceChange(24, "cheap", "glm-4-air", 5.0, 5.0),))
    assert sim(config(), t, "priority").paid_cny == pytest.approx(2.4 * 1 + 2.4 * 5)
    opt = solve(config(), t)
    assert opt.paid_cny == pytest.approx(2.4 * 1 + 2.4 * 4)
    for name in ("cheapest-list", "cheapest", "credit-burn"):
        assert sim(config(), t, name).paid_cny == pytest.approx(opt.paid_cny), name


def test_burn_and_waste_per_grant() -> None:
    """Priority order on the cheap provider, 2.4M tokens a day: a 3M pack expiring on day 0 burns 2.4M and
    wastes 0.6M; on day 1 a 1M pack (expiring with the trace) burns whole, then a ¥2 voucher pays 1.4M µ¥
    and keeps the rest, which is not waste (it is still valid when the trace ends). Nothing is paid."""
    grants = [
        {"name": "early", "tokens": 3_000_000, "expires": day(0)},
        {"name": "late", "tokens": 1_000_000, "expires": day(1)},
        {"name": "voucher", "amount": 2.0, "expires": day(40)},
    ]
    res = sim(config(grants=grants), trace(100_000, days=2), "priority")
    assert res.burned == {"cheap/early": 2_400_000, "cheap/late": 1_000_000, "cheap/voucher": 1_400_000}
    assert res.wasted == {"cheap/early": 600_000, "cheap/late": 0, "cheap/voucher": 0}
    assert res.paid_cny == 0.0


def test_the_planner_is_timed_at_every_replan() -> None:
    """credit-burn re-plans every 15 minutes (4 requests an hour: every request), cheapest every hour, the
    others never; each re-plan's wall time is kept."""
    t = trace(100_000, days=1)
    burn, cheap, prio = (sim(config(), t, n) for n in ("credit-burn", "cheapest", "priority"))
    assert burn.replans == 96 == len(burn.replan_ms) and cheap.replans == 24 and prio.replans == 0
    assert burn.replan_max_ms is not None and burn.replan_warm_ms is not None and prio.replan_max_ms is None


def test_a_grant_spent_between_re_plans_has_the_plan_re_made_at_once() -> None:
    """The cheap model dearer than the dear one (6 vs 4 µ¥) but for a 140k pack; 100k tokens an hour in 25k
    requests. ``cheapest`` re-plans hourly: the pack runs out in hour 1's second request, which pays its last
    10k at list price; that booking has the plan re-made before the next request, so the rest of the hour goes
    to the dear model (paying 6 µ¥ for 60k tokens until the hour's re-plan was the old behaviour). credit-burn
    too pays for at most the one request that found the pack spent."""
    cfg = config(cheap_price=6.0, grants=[{"name": "pack", "tokens": 140_000, "expires": day(0)}])
    t = trace(100_000, days=1)

    def paid_cheap(res: SimResult) -> int:
        return sum(r.tokens for r in res.rows if r.provider == "cheap" and r.bucket == "paid")

    cheap = sim(cfg, t, "cheapest")
    assert paid_cheap(cheap) == 10_000 and cheap.replans == 25
    assert cheap.paid_cny == pytest.approx((10_000 * 6 + (24 * 100_000 - 150_000) * 4) / 1e6)
    assert paid_cheap(sim(cfg, t, "credit-burn")) <= 25_000


def test_an_unknown_strategy_is_refused() -> None:
    """A strategy name the simulation does not know is an error, not a silent default."""
    with pytest.raises(ValueError, match="unknown strategy"):
        sim(config(), trace(1_000, days=1), "weighted")


def rush(days: int = 3, at: int = 2, factor: float = 3.0) -> Trace:
    """60k tokens an hour, ``factor`` times that on day ``at`` (nothing before it says so)."""
    t = trace(60_000, days=days)
    t.demand["chat"][at * 24 : (at + 1) * 24] *= factor
    return t


def test_foresight_plans_on_the_traces_own_future() -> None:
    """The foresight forecast of a trace is its demand hour by hour; a plan made with it on the eve of a rush
    expects the rush (three times the day's tokens), a plan fitted to the past does not."""
    cfg, t = config(), rush()
    known = foresight(t)["chat"]
    first = int(t.start // 3600)
    assert [known.rate(first + h) for h in (0, 47, 48, 71, 72)] == [60_000, 60_000, 180_000, 180_000, 0.0]
    ledger, eve = MemoryLedger(books_from_config(cfg)), t.start + 48 * 3600.0

    async def plans() -> tuple[float, float]:
        snap = await ledger.snapshot(eve)
        snap.traffic["chat"] = {first + h: 60_000 for h in range(48)}
        books = books_from_config(cfg)
        seen = make_plan(cfg, books, snap, eve, forecasts=foresight(t)).demand["chat"]
        return seen, make_plan(cfg, books, snap, eve).demand["chat"]

    seen, fitted = asyncio.run(plans())
    assert seen == pytest.approx(24 * 180_000) and fitted == pytest.approx(24 * 60_000)


def test_foresight_runs_as_credit_burn_and_never_beats_the_bound() -> None:
    """The diagnostic strategy re-plans like credit-burn (every 15 minutes) and, planning on the truth, pays no
    less than the offline optimum and no more than it plus 2% on a rush with a grant (here: the same)."""
    grants = [{"name": "pack", "tokens": 2_000_000, "expires": day(2)}]
    cfg, t = config(cheap_tpm=1500, grants=grants), rush()
    res, opt = sim(cfg, t, FORESIGHT), solve(cfg, t)
    assert res.strategy == FORESIGHT and res.replans == 3 * 96
    assert opt.paid_cny * (1 - 1e-6) <= res.paid_cny <= 1.02 * opt.paid_cny


@pytest.mark.parametrize("case", ["price-rise", "listed-order"])
def test_the_ledger_reaches_the_debit_order_optimum_and_no_strategy_beats_it(case: str) -> None:
    """On the bound tests' two debit-order cases the ledger itself books the optimum: no strategy pays less
    (it is a lower bound on what the ledger can book) and one reaches it (no looser than the ledger). The
    price-rise pack: ¥7.2 (the LP alone said ¥2.4). The listed packs: ¥2.4 (the LP alone said ¥1.4)."""
    if case == "price-rise":
        pack = [{"name": "pack", "tokens": 2_400_000, "models": ["glm-4-air"], "expires": day(1)}]
        cfg = config(grants=pack)
        t = trace(100_000, days=2, changes=(PriceChange(24, "cheap", "glm-4-air", 3.0, 3.0),))
    else:
        packs = [
            {"name": "long", "tokens": 1_000_000, "models": ["glm-4-air"], "expires": day(1)},
            {"name": "short", "tokens": 3_000_000, "models": ["glm-4-air"], "expires": day(0)},
        ]
        cfg, t = config(grants=packs, debit_order="listed"), trace(100_000, days=2)
    opt = solve(cfg, t)
    assert opt.debit_order and opt.paid_cny > solve(cfg, t, debit_order=False).paid_cny
    paid = {name: sim(cfg, t, name).paid_cny for name in ("priority", "cheapest", "credit-burn", FORESIGHT)}
    assert min(paid.values()) >= opt.paid_cny * (1 - 1e-6), paid
    assert min(paid.values()) == pytest.approx(opt.paid_cny), paid


def two_routes() -> Config:
    """Routes ``low`` (unserved at its candidate's 1 CNY/M) and ``high`` (unserved at 50 CNY/M) on one provider."""
    only = [{"provider": "cheap", "model": "glm-4-air"}]
    return config_mod.parse(
        {
            "server": {"insecure_no_auth": True},
            "providers": {
                "cheap": {
                    "vendor": "glm",
                    "limits": {"tpm": 1000},
                    "prices": {"glm-4-air": {"input": 1.0, "output": 1.0}},
                }
            },
            "routes": {"low": {"candidates": only}, "high": {"candidates": only, "unserved_price": 50.0}},
        },
        "test",
    )


def test_unserved_is_reported_per_route_and_the_optimum_leaves_the_cheapest() -> None:
    """Two routes on one provider of 60k tokens/hour, each asking 60k: the bound leaves all of the unserved on
    the route whose unserved token costs least (1 against 50 CNY/M); the simulation reports where its
    unserved fell, per route, and the parts add up to its total tokens and (at each route's price) its ¥."""
    cfg = two_routes()
    t = Trace(trace(0, 1).start, 24, {"low": np.full(24, 60_000.0), "high": np.full(24, 60_000.0)}, {})
    opt = solve(cfg, t)
    assert opt.unserved_by_route == pytest.approx({"low": 24 * 60_000, "high": 0.0}, abs=1.0)
    for name in ("priority", "credit-burn"):
        res = sim(cfg, t, name)
        assert sum(res.unserved_by_route.values()) == pytest.approx(res.unserved_tokens) == pytest.approx(24 * 60_000)
        by_price = res.unserved_by_route.get("low", 0.0) * 1.0 + res.unserved_by_route.get("high", 0.0) * 50.0
        assert res.unserved_cny == pytest.approx(by_price / 1e6)


def test_a_voucher_debited_before_a_pack_is_not_spent_on_the_packs_model() -> None:
    """Spark's ¥6 voucher (every model, expires first) is debited before its 6M-token spark-max pack: while it
    lasts a spark-max token spends ¥21/M of it. Spent on spark-lite (¥1/M) it serves 6M tokens instead of DeepSeek,
    then the pack takes Spark's capacity for spark-max; credit-burn pays within 5% of the optimum (the first hour
    plans with no history). Planning the pack for spark-max while the voucher lives cost 1.12x: the vendor debited
    the voucher for those tokens and it was gone on a few hundred thousand of them."""
    cfg = config_mod.parse(spark_voucher_and_pack(6.0, 6_000_000, day(2), day(1)), "test")
    demand = {"chat": np.full(72, 200_000.0), "lite": np.full(72, 200_000.0)}
    t = Trace(trace(0, 3).start, 72, demand, {"chat": 0.75, "lite": 0.75})
    res = asyncio.run(simulate(cfg, t, "credit-burn", requests_per_hour=40, replan_minutes=15))
    opt = solve(cfg, t)
    assert res.burned == pytest.approx({"spark/voucher": 6_000_000, "spark/max": 6_000_000})
    assert opt.paid_cny <= res.paid_cny <= 1.05 * opt.paid_cny


def pack_then_voucher() -> Config:
    """Zhipu (3,000 TPM, glm-4-air at ¥5/M): a 1M-token pack, then in the listed debit order a ¥10 voucher on the
    same model, both until day 2; Spark (3,000 TPM, spark-lite at ¥5/M): a 10M-token pack until day 3 that can
    serve all of the route alone; DeepSeek (¥4/M) behind both."""
    zhipu = [
        {"name": "pack", "tokens": 1_000_000, "models": ["glm-4-air"], "expires": day(2)},
        {"name": "voucher", "amount": 10.0, "expires": day(2)},
    ]
    spark = [{"name": "pack", "tokens": 10_000_000, "models": ["spark-lite"], "expires": day(3)}]

    def provider(vendor: str, model: str, grants: list[dict[str, object]]) -> dict[str, object]:
        account = {"grants": grants, "debit_order": "listed"}
        return {
            "vendor": vendor,
            "limits": {"tpm": 3000},
            "prices": {model: {"input": 5.0, "output": 5.0}},
            "account": account,
        }

    ds = {"vendor": "deepseek", "prices": {"deepseek-chat": {"input": 4.0, "output": 4.0}}}
    pairs = (("zhipu", "glm-4-air"), ("spark", "spark-lite"), ("ds", "deepseek-chat"))
    raw = {
        "server": {"insecure_no_auth": True},
        "providers": {
            "zhipu": provider("glm", "glm-4-air", zhipu),
            "spark": provider("spark", "spark-lite", spark),
            "ds": ds,
        },
        "routes": {"chat": {"candidates": [{"provider": p, "model": m} for p, m in pairs]}},
    }
    return config_mod.parse(raw, "test")


def test_a_voucher_behind_a_pack_on_the_same_model_is_reached() -> None:
    """Zhipu debits its voucher only once the pack before it is gone. With Spark's pack able to serve every token
    (nothing is paid either way), the voucher is worth burning (¥10 against 2M of Spark's tokens), and that
    takes the pack spent whole first: credit-burn burns both, as the optimum does. Planned side by side, the
    pack was left a hair short and the voucher never debited (bench's random case 65)."""
    cfg, t = pack_then_voucher(), trace(100_000, days=3)
    opt = solve(cfg, t)
    assert opt.burned["zhipu/voucher"] == pytest.approx(10e6) and opt.burned["zhipu/pack"] == pytest.approx(1e6)
    res = asyncio.run(simulate(cfg, t, "credit-burn", requests_per_hour=40, replan_minutes=15))
    assert res.burned["zhipu/pack"] == 1_000_000
    assert res.burned["zhipu/voucher"] >= 0.99 * 10e6
    assert res.paid_cny == pytest.approx(0.0, abs=0.01)


def test_known_level_tells_the_rest_of_the_traces_mean_and_nothing_else() -> None:
    """``credit-burn+level``'s forecast is the fitted one with its level scaled so that its mean over the rest of
    the trace is the trace's own: the daily profile, weekly season and spread stay the fitted ones. It re-plans
    like credit-burn."""
    t = rush()
    first, now = int(t.start // 3600), t.start + 30 * 3600.0
    fitted = fit({first + h: int(v) for h, v in enumerate(t.demand["chat"][:30])}, now)
    told = known_level(fitted, t.demand["chat"], t.start, now)
    ahead = [told.rate(first + h) for h in range(30, t.hours)]
    assert sum(ahead) / len(ahead) == pytest.approx(float(t.demand["chat"][30:].mean()))
    assert told.level != pytest.approx(fitted.level)
    assert (told.daily, told.weekly, told.spread, told.drift) == (
        fitted.daily,
        fitted.weekly,
        fitted.spread,
        fitted.drift,
    )
    assert known_level(fitted, t.demand["chat"], t.start, t.start + t.hours * 3600.0) is fitted  # past the end
    cfg = config(cheap_tpm=1500, grants=[{"name": "pack", "tokens": 2_000_000, "expires": day(2)}])
    res = sim(cfg, t, LEVEL)
    assert res.strategy == LEVEL and res.replans == 3 * 96 and res.paid_cny >= solve(cfg, t).paid_cny * (1 - 1e-6)


def test_known_shape_expects_the_generators_mean_and_keeps_the_fitted_spread() -> None:
    """``credit-burn+shape``'s forecast expects the trace's ``expected`` tokens in each hour, a rush the past
    never showed included; the last hour's deviation from that expectation is its carry (log 1.5 for 90k
    against 60k), and its spread, drift, noise futures and rho stay the fitted ones."""
    t = rush()
    first, now = int(t.start // 3600), t.start + 30 * 3600.0
    past = {first + h: int(v) for h, v in enumerate(t.demand["chat"][:30])}
    past[first + 29] = 90_000
    fitted = fit(past, now)
    expected = {first + h: float(v) for h, v in enumerate(t.demand["chat"])}
    told = known_shape(fitted, expected, past)
    assert told.carry == pytest.approx(math.log(1.5))
    calm = dataclasses.replace(told, carry=0.0)
    assert [calm.rate(first + h) for h in (30, 47, 48, 71)] == [60_000, 60_000, 180_000, 180_000]
    assert told.rate(first + 30) >= 60_000 * (1.5**told.rho) * (1 - 1e-9)
    assert (told.spread, told.drift, told.noise, told.rho, told.origin) == (
        fitted.spread,
        fitted.drift,
        fitted.noise,
        fitted.rho,
        fitted.origin,
    )
    assert known_shape(fitted, {}, past).carry == 0.0  # no expectation for the hour: nothing to carry


def test_told_the_expected_rush_the_plan_keeps_a_pack_for_it() -> None:
    """A 2M pack on the dear model (¥4/M) and cheap capacity of 90k an hour; 60k an hour asked for on days 0-1
    and 180k on day 2. Spent early, the pack saves the cheap model's ¥1/M and day 2's overflow pays ¥4/M
    (credit-burn, which cannot see the rush: ¥11.71); told the expected demand, the plan keeps it for the
    overflow (¥7.08; the optimum ¥5.68). A trace without an expectation (one read from logs) refuses the
    diagnostic, naming it."""
    t = rush()
    cfg = config(cheap_tpm=1500, dear_grants=[{"name": "pack", "tokens": 2_000_000, "expires": day(2)}])
    with pytest.raises(ValueError, match=r"credit-burn\+shape needs the trace's expected demand"):
        sim(cfg, t, SHAPE)
    told = dataclasses.replace(t, expected={"chat": t.demand["chat"].copy()})
    blind, shaped = sim(cfg, told, "credit-burn"), sim(cfg, told, SHAPE)
    assert shaped.strategy == SHAPE and shaped.replans == 3 * 96
    assert shaped.burned["dear/pack"] == blind.burned["dear/pack"] == 2_000_000
    assert solve(cfg, told).paid_cny * (1 - 1e-6) <= shaped.paid_cny < blind.paid_cny - 3.0
