"""The credit-burn planner and its report: pacing, grants that cannot finish, paid projection, CLI, endpoint."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
import yaml

from balancer import cli
from balancer.credit.forecast import DRIFT, FALL_AFTER, PATHS
from balancer.credit.horizon import PlannedGrant
from balancer.credit.ledger import books_from_config
from balancer.credit.plan import Plan
from balancer.credit.planner import make_plan
from balancer.credit.pricing import MICRO, Grant
from balancer.credit.report import report
from tests.balancer.credit.planning import (
    T0,
    book_chat_forecast,
    charge,
    credit_config,
    done,
    ds_b_pack,
    plan_now,
    setup,
    spark_voucher_and_pack,
    with_traffic,
)
from tests.conftest import ADMIN_KEY, GatewayHandle, auth


def grants_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["grant"]: g for g in doc["grants"]}


def test_feasible_grant_is_paced_to_finish_before_expiry() -> None:
    """A grant its provider can burn in time is planned now, with no waste, finishing before it expires."""
    plan, snap = plan_now()
    air = grants_of(report(plan, snap))["air"]
    assert air["projected_waste"] == {"tokens": 0} and not air["at_risk"]
    assert air["projected_exhaustion"] < air["expires"]
    assert air["planned_tokens_per_hour"] > 0
    route = plan.routes["chat"]
    assert 2 in route.share_to and route.price[2] == 0.0


def test_grant_that_cannot_finish_is_reported_not_chased() -> None:
    """A grant too big for its provider's capacity shows its waste; another grant still gets its full plan."""
    raw = credit_config()
    raw["providers"]["glm"]["account"]["grants"][0]["tokens"] = 60_000_000
    raw["providers"]["qwen"]["account"] = {
        "grants": [{"name": "plus", "tokens": 5_000_000, "models": ["qwen-plus"], "expires": "2026-11-14"}]
    }
    plan, snap = plan_now(raw)
    doc = grants_of(report(plan, snap))
    assert doc["air"]["at_risk"] and doc["air"]["projected_waste"]["tokens"] > 60_000_000 - 30_000_000
    assert doc["air"]["projected_exhaustion"] is None
    assert doc["plus"]["projected_waste"] == {"tokens": 0} and doc["plus"]["planned_tokens_per_hour"] > 0


def test_paid_projection_after_the_grants() -> None:
    """After the last grant, demand is projected on the cheapest paid candidates within their limits, per day:
    glm-4-air up to its 2,000 TPM, then qwen-plus — averaged over the demand paths (the level drifting low,
    staying, drifting high by the least drift, as two days of noiseless history give, for as long as the period
    is ahead; or halved from FALL_AFTER days on)."""
    plan, snap = plan_now()
    last = report(plan, snap)["paid_per_day"][-1]
    mid = (dt.datetime.fromisoformat(last["from"]).timestamp() + dt.datetime.fromisoformat(last["to"]).timestamp()) / 2
    days = (mid - T0) / 86400
    levels = [
        (p, 200_000 * (fall if days > FALL_AFTER else 1.0) * math.exp(z * DRIFT * days**0.5)) for p, z, fall in PATHS
    ]
    glm = sum(p * min(d, 120_000) * 0.5 for p, d in levels)
    qwen = sum(p * max(d - 120_000, 0) for p, d in levels) * (0.75 * 0.8 + 0.25 * 2.0)
    assert last["providers"] == pytest.approx({"glm": 24 * glm / MICRO, "qwen": 24 * qwen / MICRO}, abs=0.01)


def test_spend_cap_leaves_the_provider_out() -> None:
    """A provider over its daily paid spend cap is marked capped in the route plan."""
    cfg, _, ledger = setup()
    with_traffic(ledger, "chat", 200_000, 48, T0)
    ledger.book(charge("ds", "deepseek-chat", 30_000_000), T0)
    snap = done(ledger.snapshot(T0))
    assert snap.paid_today["ds"] >= 50 * MICRO
    plan = make_plan(cfg, books_from_config(cfg), snap, T0)
    assert plan.routes["chat"].capped == frozenset({0})


def test_cli_plan_prints_the_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``balancer plan --config F --rate ROUTE=N`` prints the plan JSON; an unknown route, a rate that is not a
    number, negative, or past 10^12 tokens/hour (400 nines parse as infinity) exits 2 with one line, no traceback."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(credit_config()), encoding="utf-8")
    assert cli.main(["plan", "--config", str(path), "--rate", "chat=200000"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"grants", "paid_per_day", "paid_balance_cny", "traffic_forecast_tokens_per_day"} <= set(doc)
    assert doc["projected_unserved_tokens"] == 0  # 200k tokens/hour fit the three accounts
    assert doc["traffic_forecast_tokens_per_day"] == {"chat": 4_800_000} and doc["planner"] == "optimal"
    capsys.readouterr()
    for bad in ("nope=1", "chat=", "chat=-5", "chat=1e3", "chat=" + "9" * 400, "chat=1000000000001"):
        assert cli.main(["plan", "--config", str(path), "--rate", bad]) == 2
        out, err = capsys.readouterr()
        assert err.startswith("error: --rate") and err.count("\n") == 1 and not out


async def test_admin_plan_endpoint(make_gateway: Any, emulator: Any, http: aiohttp.ClientSession) -> None:
    """GET /admin/plan needs an admin key (a client key is refused) and returns the same document as the CLI (the vendor's
    balance API, polled at start, agrees with the configured figures here)."""
    await emulator.limits("deepseek.a", granted=5.0, paid=10.0)

    def edit(c: dict[str, Any]) -> None:
        c["providers"]["ds-a"]["account"] = {
            "paid_balance": 10,
            "grants": [{"name": "signup", "amount": 5, "expires": "2099-01-01"}],
        }

    gw: GatewayHandle = await make_gateway(edit)
    async with http.get(gw.url + "/admin/plan") as r:
        assert r.status == 401
    async with http.get(gw.url + "/admin/plan", headers=auth()) as r:
        assert r.status == 403
    async with http.get(gw.url + "/admin/plan", headers=auth(ADMIN_KEY)) as r:
        assert r.status == 200
        doc = await r.json()
    assert grants_of(doc)["signup"]["remaining"] == {"cny": 5.0}
    assert doc["paid_balance_cny"]["ds-a"] == 10.0  # others: what their balance APIs reported


async def test_grant_at_risk_is_logged(make_gateway: Any) -> None:
    """A grant that cannot be burned before it expires is logged as at risk when the gateway re-plans."""
    from structlog.testing import capture_logs

    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).date().isoformat()

    def edit(c: dict[str, Any]) -> None:
        c["providers"]["ds-a"]["limits"] = {"tpm": 10}
        c["providers"]["ds-a"]["account"] = {
            "grants": [{"name": "huge", "tokens": 10**12, "models": ["deepseek-chat"], "expires": soon}]
        }

    gw: GatewayHandle = await make_gateway(edit)
    ledger = gw.gw.ledger
    for h in range(30):
        ledger.book(charge("ds-b", "deepseek-chat", 5_000), gw.clock() - 3600 * (h + 1))
    with capture_logs() as logs:
        doc = await gw.gw.replan()
    assert grants_of(doc)["huge"]["at_risk"]
    assert any(e["event"] == "grant_at_risk" and e["grant"] == "huge" for e in logs)


def test_grant_expiring_past_the_horizon_is_not_waste() -> None:
    """Tokens a far-off grant still holds at the end of the planning horizon are not reported as waste."""
    raw = credit_config()
    raw["providers"]["glm"]["account"]["grants"][0].update(tokens=10**12, expires="2099-01-01")
    plan, snap = plan_now(raw)
    air = grants_of(report(plan, snap))["air"]
    assert air["projected_waste"] == {"tokens": 0} and not air["at_risk"] and air["projected_exhaustion"] is None


def test_unavailable_candidate_is_planned_nothing_now() -> None:
    """A candidate health marks unavailable gets no share this hour; its grant is still planned to finish."""
    cfg, _, ledger = setup()
    with_traffic(ledger, "chat", 200_000, 48, T0)
    snap = done(ledger.snapshot(T0))
    plan = make_plan(cfg, books_from_config(cfg), snap, T0, down=frozenset({"glm/glm-4-air"}))
    assert 2 not in plan.routes["chat"].share_to
    assert not grants_of(report(plan, snap))["air"]["at_risk"]


def test_current_hour_follows_the_traffic_seen_in_it() -> None:
    """After a quarter of an hour the plan trusts the rate seen this hour over the forecast: twice the traffic,
    half the grant's share of it (its provider's capacity is the same)."""
    cfg, _, ledger = setup()
    with_traffic(ledger, "chat", 200_000, 48, T0)
    now = T0 + 1800
    ledger._traffic["chat"][int(now // 3600)] = 100_000  # half an hour at the forecast's 200k tokens/hour
    base = make_plan(cfg, books_from_config(cfg), done(ledger.snapshot(now)), now).routes["chat"]
    ledger._traffic["chat"][int(now // 3600)] = 200_000  # half an hour at 400k tokens/hour
    busy = make_plan(cfg, books_from_config(cfg), done(ledger.snapshot(now)), now).routes["chat"]
    assert base.share_to[0] == busy.share_to[0] == 2
    assert base.shares[0] == pytest.approx(2 * busy.shares[0], rel=0.01)


def test_grant_picks_are_oversubscribed_and_the_dearest_paid_takes_the_dip() -> None:
    """Picks a grant pays for are drawn 1.25x their planned share (their provider's limit cuts any excess),
    then cheaper paid ones up to 1.25x out of what is left, the dearest paid one gets the rest, and the
    shares never pass 1; when grants alone are planned they share the whole route."""
    from balancer.credit.picks import _shares

    price = {0: 2.25, 1: 1.1, 2: 0.0, 3: 0.0}
    cum, to = _shares({2: 0.4, 1: 0.3, 0: 0.3}, price, {2, 3})
    assert to == (2, 1, 0) and cum == pytest.approx((0.5, 0.875, 1.0))
    cum, to = _shares({2: 0.4, 1: 0.4, 0: 0.1}, price, {2, 3})  # 10% planned unserved: past the shares
    assert cum == pytest.approx((0.5, 1.0, 1.0))  # the boost came out of the dearest
    cum, to = _shares({2: 0.7, 1: 0.3}, price, {2, 3})
    assert cum == pytest.approx((0.875, 1.0))
    cum, to = _shares({2: 0.6, 3: 0.4}, price, {2, 3})
    assert to == (2, 3) and cum == pytest.approx((0.6, 1.0))
    cum, to = _shares({1: 0.6}, price, {2, 3})
    assert to == (1,) and cum == pytest.approx((0.6,))
    cum, to = _shares({2: 0.4, 1: 0.3, 0: 0.3}, price, {2, 3}, {2})  # another route is planned on 2's provider
    assert to == (2, 1, 0) and cum == pytest.approx((0.4, 0.775, 1.0))  # 2 at its share; 1 takes 1.25x
    cum, to = _shares({2: 0.4, 1: 0.3, 0: 0.3}, price, {2, 3}, {1})
    assert cum == pytest.approx((0.5, 0.8, 1.0))


def test_a_perishable_pick_takes_the_dearest_paid_picks_draw() -> None:
    """A free model (or a left-over pack) whose capacity the hour loses if it is not used takes the draw of the
    dearest paid pick, which then gets only what falls over to it (the free one's limit cuts any excess): in an
    hour below the forecast it is filled before the dearest is paid for. Grant picks keep 1.25x, cheaper paid
    ones theirs (their shares are the plan's split of capacity the fallback order would not keep), fixed picks
    their share."""
    from balancer.credit.picks import _shares

    price = {0: 2.25, 1: 1.1, 2: 0.0, 3: 0.0}
    planned = {3: 0.4, 2: 0.1, 1: 0.1, 0: 0.4}
    assert _shares(planned, price, {2, 3}) == ((0.125, 0.625, 0.75, 1.0), (2, 3, 1, 0))
    cum, to = _shares(planned, price, {2, 3}, (), {3})
    assert to == (2, 3, 1) and cum == pytest.approx((0.125, 0.875, 1.0))  # 3: 0.4 x (1.25 + 0.625)
    cum, to = _shares(planned, price, {2, 3}, {1}, {3})  # 1's provider is shared
    assert to == (2, 3, 1) and cum == pytest.approx((0.125, 0.9, 1.0))


def test_where_grants_alone_are_planned_the_one_worth_keeping_takes_the_dip() -> None:
    """Grants and a free model share the whole route (no paid pick to take an hour's dip): the over-draw goes
    tier by tier. Two left-over vouchers (tier 0, their capacity lost if unused) take 1.25x; the free model
    (tier 1) what they leave up to 1.25x; the grant worth keeping on a provider with room (tier 2) the rest, so
    an hour below the forecast is taken out of it. As one tier they were all drawn at their plan, and a left-over
    voucher lost its part of the dip's tokens for good."""
    from balancer.credit.picks import _shares

    price = dict.fromkeys(range(4), 0.0)
    planned = {0: 0.24, 1: 0.38, 2: 0.19, 3: 0.19}
    tiers = {0: 2, 1: 0, 2: 0, 3: 1}
    cum, to = _shares(planned, price, set(planned))
    assert to == (0, 1, 2, 3) and cum == pytest.approx((0.24, 0.62, 0.81, 1.0))
    cum, to = _shares(planned, price, tiers)
    assert to == (1, 2, 3, 0) and cum == pytest.approx((0.475, 0.7125, 0.95, 1.0))
    cum, to = _shares({0: 0.5, 1: 0.3}, price, {0: 2, 1: 0})  # the tiers fit at 1.25x: the same as one tier
    assert to == (1, 0) and cum == pytest.approx((0.375, 1.0))
    assert _shares({0: 0.5, 1: 0.3}, price, {0, 1})[0] == pytest.approx((0.625, 1.0))


def test_a_left_over_voucher_is_drawn_before_one_worth_keeping() -> None:
    """A ¥1000 MiniMax voucher for a day on 120k tokens an hour (left over: worth nothing to keep) beside a ¥5
    Hunyuan voucher that lasts five days on a provider with room (worth keeping: DeepSeek is paid once it is
    gone): grants alone serve the hour (MiniMax 120k, Hunyuan 80k of 200k). MiniMax is drawn 1.25x (75%) and
    Hunyuan gets the rest (25%), so an hour below the forecast is taken out of the voucher that can be spent
    later; drawn at their plan (60% / 40%), MiniMax lost its part of the dip's tokens for good."""
    grants = {"hy": ("keep", 5.0, "2026-11-15"), "mm": ("lost", 1000.0, "2026-11-11")}
    raw: dict[str, Any] = {"server": {"insecure_no_auth": True}, "providers": {}}
    for name, vendor, model, tpm in (("hy", "hunyuan", "hunyuan-lite", 8000), ("mm", "minimax", "abab6.5s", 2000)):
        grant, amount, expires = grants[name]
        raw["providers"][name] = {
            "vendor": vendor,
            "limits": {"tpm": tpm},
            "prices": {model: {"input": 1.0, "output": 1.0}},
            "account": {"grants": [{"name": grant, "amount": amount, "expires": expires}]},
        }
    raw["providers"]["ds"] = {"vendor": "deepseek", "prices": {"deepseek-chat": {"input": 2.0, "output": 2.0}}}
    models = (("hy", "hunyuan-lite"), ("mm", "abab6.5s"), ("ds", "deepseek-chat"))
    raw["routes"] = {"chat": {"candidates": [{"provider": p, "model": m} for p, m in models]}}
    plan, snap = plan_now(raw)
    doc = grants_of(report(plan, snap))
    assert doc["lost"]["planned_tokens_per_hour"] == 120_000 and doc["keep"]["planned_tokens_per_hour"] == 80_000
    chat = plan.routes["chat"]
    assert chat.share_to == (1, 0) and chat.shares == pytest.approx((0.75, 1.0))


@pytest.mark.parametrize(
    ("pack_lam", "shared", "drawn"),
    [(None, frozenset(), 1.0), (0.0, frozenset(), 1.0), (0.5, frozenset(), 1.25 * 60 / 110), (None, {"f"}, 0.6)],
)
def test_a_free_model_is_perishable_only_where_nothing_else_counts_on_its_provider(
    pack_lam: float | None, shared: set[str], drawn: float
) -> None:
    """Free lite on provider f planned 60 tokens, paid m elsewhere 40: lite takes every pick (1.0), also beside
    a pack on f the plan cannot finish (lam 0, planned nothing now). Beside a pack on f the plan values and
    spends now (lam 0.5, 10 tokens) more lite would take the pack's capacity: 1.25x its share. Where another
    route is planned on f, lite is drawn at its share (0.6)."""
    from balancer.credit.picks import route_plan
    from balancer.credit.schedule import Offer, Schedule

    g = PlannedGrant(Grant("f", "pack", "tokens", 10**9, frozenset(), 0.0, T0 + 86400), 1e9, T0, T0 + 86400, ())
    cands = [Offer(0, "f", "lite", 0.0), Offer(1, "a", "m", 3.0), Offer(2, "f", "pro", 5.0)]
    now = {("r", 0): (60.0, 0.0), ("r", 1): (40.0, 0.0)}
    paying = {}
    if pack_lam is not None:
        paying = {("r", 2): g}
        now["r", 2] = (0.0, 10.0 if pack_lam > 0 else 0.0)
    sched = Schedule(now=now, lam={g.key: pack_lam or 0.0})
    demand = sum(sum(v) for v in now.values())
    plan = route_plan("r", cands, demand, sched, paying, {p: frozenset({"paid"}) for p in shared})
    assert plan.share_to[0] == 0 and plan.shares[0] == pytest.approx(drawn)


@pytest.mark.parametrize(("unit", "lam", "first"), [("tokens", 0.0, 0), ("tokens", 0.5, 1), ("money", 0.0, 1)])
def test_a_grant_left_over_whatever_is_done_goes_first_past_the_shares(
    unit: Literal["tokens", "money"], lam: float, first: int
) -> None:
    """Past the shares, a candidate whose token grant the schedule values at nothing (one more unit would be
    left over: lam 0) is tried before a cheaper paid one, though its provider's capacity is worth 2 this hour:
    a token it does not take is lost to it for good. A grant the schedule still values (lam 0.5) is ranked
    by its value plus the capacity's (2.5), after the paid one (1); so is a left-over money grant (0 + 2),
    which burns faster on a dearer model: which route takes the capacity still matters."""
    from balancer.credit.picks import route_plan
    from balancer.credit.schedule import Offer, Schedule

    g = PlannedGrant(Grant("a", "pack", unit, 10**9, frozenset(), 0.0, T0 + 86400), 1e9, T0, T0 + 86400, ())
    cands = [Offer(0, "a", "m", 3.0), Offer(1, "b", "m", 1.0)]
    sched = Schedule(now={("r", 1): (100.0, 0.0)}, mu={"a": 2.0}, lam={g.key: lam})
    plan = route_plan("r", cands, 100.0, sched, {("r", 0): g}, {})
    assert sorted(plan.rank, key=plan.rank.__getitem__) == [first, 1 - first]


def test_a_left_over_grant_goes_before_a_free_model_past_the_shares() -> None:
    """Past the shares, a candidate whose token grant is left over (worth nothing to the plan) and a free model
    cost the same now; the grant goes first: a token it does not take now may be lost to it, and the free
    model is there later."""
    from balancer.credit.picks import route_plan
    from balancer.credit.schedule import Offer, Schedule

    g = PlannedGrant(Grant("a", "pack", "tokens", 10**9, frozenset(), 0.0, T0 + 86400), 1e9, T0, T0 + 86400, ())
    cands = [Offer(0, "free", "lite", 0.0), Offer(1, "a", "m", 3.0)]
    sched = Schedule(now={("r", 0): (100.0, 0.0)}, lam={g.key: 0.0})
    plan = route_plan("r", cands, 100.0, sched, {("r", 1): g}, {})
    assert sorted(plan.rank, key=plan.rank.__getitem__) == [1, 0]


def test_a_money_grant_is_not_planned_on_a_free_model() -> None:
    """Baichuan's voucher covers a free model: spending it there burns nothing, so after a week of flat traffic
    the plan gives the hour to Tiangong's 5M pack (which expires tomorrow) and plans the voucher nothing;
    counting the voucher as spent on the free model planned it 120k tokens an hour and left 1.1M of the pack
    to waste."""
    raw = credit_config()
    tiangong = [{"name": "pack", "tokens": 5_000_000, "models": ["tiangong-3"], "expires": "2026-11-11"}]
    raw["providers"] = {
        "bc": {
            "vendor": "baichuan",
            "limits": {"tpm": 2000},
            "prices": {"baichuan4": {"input": 0.0, "output": 0.0}},
            "account": {"grants": [{"name": "voucher", "amount": 50.0, "expires": "2026-11-20"}]},
        },
        "tg": {
            "vendor": "tiangong",
            "limits": {"tpm": 8000},
            "prices": {"tiangong-3": {"input": 10.0, "output": 10.0}},
            "account": {"grants": tiangong},
        },
        "ds": {"vendor": "deepseek", "prices": {"deepseek-chat": {"input": 2.0, "output": 2.0}}},
    }
    models = (("bc", "baichuan4"), ("tg", "tiangong-3"), ("ds", "deepseek-chat"))
    raw["routes"] = {"chat": {"candidates": [{"provider": p, "model": m} for p, m in models]}}
    plan, snap = plan_now(raw, hours=168)
    doc = grants_of(report(plan, snap))
    assert doc["pack"]["planned_tokens_per_hour"] == 200_000 and doc["pack"]["projected_waste"] == {"tokens": 0}
    assert doc["voucher"]["planned_tokens_per_hour"] == 0
    assert plan.routes["chat"].share_to == (1,)


def test_a_grant_behind_another_in_the_debit_order_is_planned_nothing_now() -> None:
    """The vendor debits the voucher (it expires first) for every Spark model while it lasts: a spark-max token
    now spends the voucher, not the pack, so the plan gives the pack nothing this hour (the pack's tokens go
    later). When a 2M pack expires first (beside a ¥2 voucher) it is the one debited for spark-max: planned now."""
    plan, snap = plan_now(spark_voucher_and_pack(20.0, 40_000_000, "2026-11-17"))
    doc = grants_of(report(plan, snap))
    assert doc["max"]["planned_tokens_per_hour"] == 0
    assert doc["voucher"]["planned_tokens_per_hour"] > 0
    plan, snap = plan_now(spark_voucher_and_pack(2.0, 2_000_000, "2026-11-11"))
    assert grants_of(report(plan, snap))["max"]["planned_tokens_per_hour"] > 0


def test_capacity_goes_where_it_burns_the_most_grant_units() -> None:
    """Spark (180k tokens an hour) with a 3M pack on spark-max for two days and a ¥110 voucher on both models for
    five: each Spark token saves the same DeepSeek token, so paid spend is equal whichever route takes the
    capacity. Both finish only if the pack goes first and the voucher then burns on spark-max (¥8/M), not on
    spark-lite (¥3/M); the plan leaves neither to waste. Counting only tokens spent early, it left the pack
    (shorter-lived, so a smaller early bonus) to waste."""
    plan, snap = plan_now(spark_voucher_and_pack(110.0, 3_000_000, "2026-11-11", "2026-11-14", prices=(8.0, 3.0)))
    doc = grants_of(report(plan, snap))
    assert doc["max"]["projected_waste"] == {"tokens": 0}
    assert doc["voucher"]["projected_waste"] == {"cny": 0.0}, doc["voucher"]
    assert doc["max"]["planned_tokens_per_hour"] > 0


def two_routes(docs_per_hour: int) -> Plan:
    """chat (glm's grant, qwen and qb at the same price, ds) and docs (glm's grant, qwen-max) at ``docs_per_hour``:
    a glm token saves docs more (qwen-max) than chat (qwen-plus), so which route takes glm is no LP tie."""
    raw = credit_config()
    raw["providers"]["qb"] = {"vendor": "qwen"}
    raw["routes"]["chat"]["candidates"].append({"provider": "qb", "model": "qwen-plus"})
    raw["routes"]["docs"] = {
        "candidates": [{"provider": "glm", "model": "glm-4-air"}, {"provider": "qwen", "model": "qwen-max"}]
    }
    cfg, _, ledger = setup(raw)
    with_traffic(ledger, "chat", 200_000, 48, T0)
    if docs_per_hour:
        with_traffic(ledger, "docs", docs_per_hour, 48, T0)
    return make_plan(cfg, books_from_config(cfg), done(ledger.snapshot(T0)), T0)


def test_a_provider_another_route_is_planned_on_is_drawn_at_its_share() -> None:
    """Where a second route is planned on the grant's provider this hour, the first route's grant picks are
    drawn at their planned share, not 1.25x (the excess would take the capacity the other route's plan
    counts on); and of two paid candidates at the same price, the one on a provider no other route is
    planned on comes first in the order for the rest."""
    alone = two_routes(0).routes["chat"]
    assert alone.share_to[0] == 2 and alone.shares[0] == pytest.approx(1.25 * 0.6, rel=0.01)  # glm: 120k of 200k
    assert alone.rank[1] < alone.rank[3]  # qwen before qb: the same price, the lower index
    both = two_routes(40_000)  # docs takes 40k of glm's 120k/hour
    assert both.routes["docs"].share_to == (0,)
    chat = both.routes["chat"]
    assert chat.share_to[0] == 2 and chat.shares[0] == pytest.approx(80_000 / 200_000, rel=0.01)
    busy = two_routes(150_000)  # docs takes glm's 120k and is planned on qwen for the rest
    assert busy.routes["docs"].share_to == (0, 1)
    chat = busy.routes["chat"]
    assert chat.rank[3] < chat.rank[1]  # qb first in the order for the rest


def shared_glm(docs_model: str, chat_model: str = "glm-4-air") -> Plan:
    """glm (120k tokens an hour) with a 100M glm-4-air pack it cannot finish (left over: worth nothing to the
    plan) and free glm-4-flash, chat (200k/h) on ``chat_model`` there, and docs (40k/h) on ``docs_model`` at glm
    (glm-4-plus is ¥0.1/M) before qwen-max."""
    raw = credit_config()
    raw["providers"]["glm"]["account"]["grants"][0]["tokens"] = 100_000_000
    raw["providers"]["glm"]["prices"] = {
        "glm-4-air": {"input": 1.0, "output": 1.0},
        "glm-4-plus": {"input": 0.1, "output": 0.1},
        "glm-4-flash": {"input": 0.0, "output": 0.0},
        "glm-4-flashx": {"input": 0.0, "output": 0.0},
    }
    raw["routes"]["chat"]["candidates"][2] = {"provider": "glm", "model": chat_model}
    docs = [{"provider": "glm", "model": docs_model}, {"provider": "qwen", "model": "qwen-max"}]
    raw["routes"]["docs"] = {"candidates": docs}
    cfg, _, ledger = setup(raw)
    with_traffic(ledger, "chat", 200_000, 48, T0)
    with_traffic(ledger, "docs", 40_000, 48, T0)
    return make_plan(cfg, books_from_config(cfg), done(ledger.snapshot(T0)), T0)


def test_a_left_over_pack_another_route_spends_too_is_drawn_above_its_share() -> None:
    """A pack glm cannot finish, planned on two routes: where docs spends on glm only that pack, chat's pack picks
    are drawn 1.25x their share (which route takes the pack does not matter, and in an hour below the forecast
    the capacity a share leaves idle is the pack's loss); where docs pays for glm-4-plus there, chat's are drawn at
    their share (80k of 200k), as for any provider another route's plan counts on."""
    same = shared_glm("glm-4-air")
    assert same.routes["docs"].share_to == (0,) and same.grants[0].waste > 0
    chat = same.routes["chat"]
    assert chat.share_to[0] == 2 and chat.shares[0] == pytest.approx(1.25 * 80_000 / 200_000, rel=0.01)
    paid = shared_glm("glm-4-plus")
    assert paid.routes["docs"].share_to == (0,)
    chat = paid.routes["chat"]
    assert chat.share_to[0] == 2 and chat.shares[0] == pytest.approx(80_000 / 200_000, rel=0.01)


def test_a_free_model_another_route_spends_too_is_drawn_above_its_share() -> None:
    """Free glm-4-flash planned on two routes (docs 40k, chat the other 80k of glm's 120k an hour): where docs
    spends on glm only that free model, chat's flash picks are drawn 1.25x their share, as a left-over pack's
    are (which route takes free capacity does not matter; a share of it left idle in an hour below the forecast
    is paid for elsewhere); where docs pays for glm-4-plus there, at their share (80k of 200k)."""
    same = shared_glm("glm-4-flash", "glm-4-flash")
    assert same.routes["docs"].share_to == (0,)
    chat = same.routes["chat"]
    assert chat.share_to[0] == 2 and chat.shares[0] == pytest.approx(1.25 * 80_000 / 200_000, rel=0.01)
    paid = shared_glm("glm-4-plus", "glm-4-flash")
    assert paid.routes["docs"].share_to == (0,)
    chat = paid.routes["chat"]
    assert chat.share_to[0] == 2 and chat.shares[0] == pytest.approx(80_000 / 200_000, rel=0.01)


def test_capacity_lost_if_unused_of_any_kind_is_drawn_above_its_share() -> None:
    """Where docs spends on glm only free glm-4-flash and chat only the pack glm cannot finish, both uses are
    capacity lost if not taken this hour, so chat's pack picks are drawn 1.25x their share as where both spend
    the same pack or the same free model (a free model and a left-over pack, or two free models, are one kind
    of thing to the hour: which route takes it does not matter)."""
    plan = shared_glm("glm-4-flash", "glm-4-air")
    assert plan.routes["docs"].share_to == (0,) and plan.grants[0].waste > 0
    chat = plan.routes["chat"]
    assert chat.share_to[0] == 2 and chat.shares[0] == pytest.approx(1.25 * 80_000 / 200_000, rel=0.01)
    two = shared_glm("glm-4-flashx", "glm-4-flash")  # docs on one free model, chat on another
    assert two.routes["docs"].share_to == (0,)
    chat = two.routes["chat"]
    assert chat.share_to[0] == 2 and chat.shares[0] == pytest.approx(1.25 * 80_000 / 200_000, rel=0.01)


async def test_gateway_plans_around_a_cooled_down_candidate(make_gateway: Any) -> None:
    """The gateway's re-plan reads candidate health: one cooling down gets no share of the current hour."""

    def edit(c: dict[str, Any]) -> None:
        c["routes"]["chat"]["strategy"] = "credit-burn"
        c["providers"]["ds-b"]["account"] = {
            "grants": [{"name": "pack", "tokens": 10**8, "models": ["deepseek-chat"], "expires": "2099-01-01"}]
        }

    gw: GatewayHandle = await make_gateway(edit)
    for h in range(30):
        gw.gw.ledger.book(charge("ds-a", "deepseek-chat", 50_000), gw.clock() - 3600 * h)
    await gw.gw.replan()
    assert gw.gw.plan is not None and 1 in gw.gw.plan.routes["chat"].share_to
    await gw.gw.store.cool_down("ds-b/deepseek-chat", gw.clock() + 600, "overloaded", gw.clock())
    await gw.gw.replan()
    assert 1 not in gw.gw.plan.routes["chat"].share_to


def test_grant_without_expiry_is_planned() -> None:
    """A grant with no expiry date is spent like any other (nothing of it is ever waste)."""
    raw = credit_config()
    del raw["providers"]["glm"]["account"]["grants"][0]["expires"]
    plan, snap = plan_now(raw)
    air = grants_of(report(plan, snap))["air"]
    assert plan.status == "optimal" and air["planned_tokens_per_hour"] > 0 and not air["at_risk"]
    assert air["projected_exhaustion"] is not None  # 20M at up to 120k/h: gone within the horizon


@pytest.mark.parametrize(
    ("tokens", "share", "on_pack", "replan_each"),
    [(10**8, 0.75, 30, False), (10**8, 0.75, 30, True), (10**10, 1.0, 40, False)],
)
async def test_credit_burn_end_to_end_follows_the_plan(
    make_gateway: Any, emulator: Any, tokens: int, share: float, on_pack: int, replan_each: bool
) -> None:
    """Through the gateway with the real SDK: a 100M pack whose provider can take 60% of the route's forecast
    (it finishes in a day) gets its first picks at 1.25x that share (75% of requests, within a pick or two)
    and the rest go to the cheapest paid candidate — also when the gateway re-plans before every request (a
    quiet route: one request per re-plan), each plan's picks going on where the last one's left off; a 10,000M
    pack it can never finish (left over: a token it does not take is lost to it) gets every pick, the paid ones
    only what its limit leaves. The ledger books exactly what the emulator served."""
    gw: GatewayHandle = await make_gateway(ds_b_pack(tokens))
    book_chat_forecast(gw.gw.ledger, gw.clock())  # the forecast: 10M tokens/hour on the route
    await gw.gw.replan()
    assert gw.gw.plan is not None
    route = gw.gw.plan.routes["chat"]
    assert route.share_to[0] == 1 and route.shares[0] == pytest.approx(share, abs=0.01)
    before = await emulator.stats()
    client = gw.client()
    firsts: dict[str, int] = {}
    for _ in range(40):
        if replan_each:
            await gw.gw.replan()
        r = await client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "你好！"}]
        )
        firsts[r.headers["x-qiao-provider"]] = firsts.get(r.headers["x-qiao-provider"], 0) + 1
    assert abs(firsts.get("ds-b", 0) - on_pack) <= 2 and firsts.get("ds-b", 0) + firsts.get("qwen", 0) == 40
    stats = await emulator.stats()
    snap = await gw.gw.ledger.snapshot(gw.clock())
    served = stats["deepseek.b"]["total_tokens"] - before.get("deepseek.b", {}).get("total_tokens", 0)
    assert next(g for g in snap.grants if g.grant.name == "pack").used == served > 0


def test_first_hour_plans_from_the_traffic_seen_so_far() -> None:
    """With no history at all, the rate seen in the current hour stands for every hour: a grant that rate
    can burn in time is planned to finish, not reported at risk."""
    cfg, _, ledger = setup()
    now = T0 + 1800
    ledger._traffic["chat"] = {int(now // 3600): 100_000}  # half an hour at 200k tokens/hour, nothing before
    snap = done(ledger.snapshot(now))
    plan = make_plan(cfg, books_from_config(cfg), snap, now)
    air = grants_of(report(plan, snap))["air"]
    assert not air["at_risk"] and air["projected_exhaustion"] < air["expires"] and air["planned_tokens_per_hour"] > 0


def test_listed_debit_order_finishes_the_first_grant_before_the_next_expires() -> None:
    """With ``debit_order: listed`` the vendor spends glm's voucher (listed first, expiring late) before its
    bonus (expiring in 3 days): the bonus is burned only if the voucher is gone first. So the plan gives glm
    the traffic to finish both in 3 days, and qwen's grant (expiring later) waits — not the other way round."""
    raw = credit_config()
    raw["providers"]["glm"]["account"] = {
        "debit_order": "listed",
        "grants": [
            {"name": "voucher", "tokens": 3_000_000, "models": ["glm-4-air"], "expires": "2026-11-25"},
            {"name": "bonus", "tokens": 3_000_000, "models": ["glm-4-air"], "expires": "2026-11-12"},
        ],
    }
    raw["providers"]["qwen"]["account"] = {
        "grants": [{"name": "plus", "tokens": 6_000_000, "models": ["qwen-plus"], "expires": "2026-11-20"}]
    }
    plan, snap = plan_now(raw, per_hour=100_000)
    doc = grants_of(report(plan, snap))
    assert all(doc[g]["projected_waste"] == {"tokens": 0} for g in ("voucher", "bonus", "plus"))
    assert doc["voucher"]["projected_exhaustion"] <= doc["bonus"]["expires"]
    assert doc["bonus"]["projected_exhaustion"] <= doc["bonus"]["expires"]


def glm_before_deepseek() -> dict[str, Any]:
    """credit_config's chat route without qwen: glm-4-air at ¥5/M (its 20M pack), then DeepSeek at ¥2/M."""
    raw = credit_config()
    raw["providers"]["glm"]["prices"] = {"glm-4-air": {"input": 5.0, "output": 5.0}}
    raw["providers"]["ds"]["prices"] = {"deepseek-chat": {"input": 2.0, "output": 2.0}}
    del raw["providers"]["qwen"]
    raw["routes"]["chat"]["candidates"] = [c for c in raw["routes"]["chat"]["candidates"] if c["provider"] != "qwen"]
    return raw


def test_each_grants_value_is_the_paid_price_it_displaces_or_nothing_when_left_over() -> None:
    """The report gives each grant's value to the plan (¥ per Mtok one more token of it saves). A 20M glm-4-air
    pack that its 120k tokens an hour finish well before expiry, with paid glm-4-air at ¥5/M and DeepSeek at
    ¥2/M behind: every token of it stands in for a DeepSeek token, so it is worth about ¥2/M. Made 60M (more than
    glm can serve before it expires), one more token would be wasted too: worth nothing; then a token of glm's
    capacity is what saves a DeepSeek token (about ¥2/M), where with the 20M pack there was room to spare (0)."""
    raw = glm_before_deepseek()
    plan, snap = plan_now(raw)
    air = grants_of(report(plan, snap))["air"]
    assert not air["at_risk"] and air["value"]["cny_per_mtok"] == pytest.approx(2.0, abs=0.02), air
    assert plan.capacity_value == {"glm": pytest.approx(0.0, abs=0.01)}
    raw["providers"]["glm"]["account"]["grants"][0]["tokens"] = 60_000_000
    plan, snap = plan_now(raw)
    air = grants_of(report(plan, snap))["air"]
    assert air["at_risk"] and air["value"] == {"cny_per_mtok": 0.0}, air
    assert plan.capacity_value == {"glm": pytest.approx(2.0, abs=0.02)}


def test_a_money_grants_value_is_the_paid_spend_one_yuan_of_it_displaces() -> None:
    """A money grant's value is in ¥ per ¥ of it. A ¥40 voucher on glm (glm-4-air at ¥5/M, DeepSeek at ¥2/M
    behind) buys 8M glm-4-air tokens, under three days of glm's 120k tokens an hour, so all of it is spent before
    it expires: one more ¥ of it buys 0.2M tokens that would otherwise be DeepSeek's, so it is worth about ¥0.4
    per ¥. A ¥5,000 voucher (1,000M tokens, far more than glm can serve before it expires) is worth nothing."""
    raw = glm_before_deepseek()
    raw["providers"]["glm"]["account"] = {"grants": [{"name": "voucher", "amount": 40.0, "expires": "2026-11-19"}]}
    plan, snap = plan_now(raw)
    voucher = grants_of(report(plan, snap))["voucher"]
    assert not voucher["at_risk"] and voucher["value"]["cny_per_cny"] == pytest.approx(0.4, abs=0.01), voucher
    raw["providers"]["glm"]["account"]["grants"][0]["amount"] = 5000.0
    plan, snap = plan_now(raw)
    voucher = grants_of(report(plan, snap))["voucher"]
    assert voucher["at_risk"] and voucher["value"] == {"cny_per_cny": 0.0}, voucher
