"""Credit re-plans as operators meet them. One that fails: a real gateway on Redis whose grant counter an operator
hand-edited to a non-integer. One log line per distinct failure (no traceback), the status and metrics show it,
the plan in force keeps routing, and the recovery is logged once. One called early: a grant the plan counts on
runs out between two periodic re-plans, and the booking that finds it paid has the plan re-made."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import structlog

from balancer import config as config_mod
from balancer.credit.ledger import Cost
from balancer.credit.plan import STALE_GAP_S, Plan, RoutePlan
from balancer.gateway import HOUR_EDGE_S, Gateway
from balancer.state import StateStore, keys
from balancer.state.memory import MemoryStore
from balancer.state.redis import RedisStore
from tests.balancer.admin.test_admin_api import SOON, call
from tests.balancer.credit.planning import book_chat_forecast, ds_b_pack
from tests.conftest import (
    ADMIN_KEY,
    CHAT,
    Clock,
    EmulatorHandle,
    GatewayFactory,
    GatewayHandle,
    auth,
    base_config,
)

COUNTER = keys.grant_used("qwen", "pack")


def _credit_burn(cfg: dict[str, Any]) -> None:
    cfg["providers"]["qwen"]["account"] = {"grants": [{"name": "pack", "tokens": 1_000_000, "expires": SOON}]}
    cfg["routes"]["chat"]["strategy"] = "credit-burn"
    cfg["planning"] = {"replan_s": 1}


async def _plan_status(http: aiohttp.ClientSession, gw: GatewayHandle, until: Any, within_s: float = 10.0) -> Any:
    """The status's plan section once ``until(plan)`` holds (polled every 50 ms, failing past ``within_s``)."""
    t0 = time.monotonic()
    while True:
        status, body = await call(http, gw, "GET", "/admin/status")
        assert status == 200, body
        if until(body["plan"]):
            return body["plan"]
        assert time.monotonic() - t0 < within_s, body["plan"]
        await asyncio.sleep(0.05)


async def _metrics(http: aiohttp.ClientSession, gw: GatewayHandle) -> dict[str, float]:
    async with http.get(gw.url + "/metrics", headers=auth(ADMIN_KEY)) as r:
        text = await r.text()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("qiao_planner_")
    }


async def test_a_failing_replan_is_logged_once_shown_and_cleared(
    make_gateway: GatewayFactory, redis_url: str, http: aiohttp.ClientSession
) -> None:
    """With a grant counter in Redis that holds no integer, every periodic re-plan fails: one ``replan_failed``
    line names the key (no traceback, however many re-plans fail), /admin/status shows the reason, since when and
    the run of failures, /metrics counts them by error class, GET /admin/plan answers 503 replan_failed with the
    reason (not a 500), and the plan made before keeps routing (a credit-burn
    request is served). An hour on, one reminder. The counter fixed, the next re-plan works: ``replan_recovered``
    once, the error gone from the status, a new plan in force."""
    gw = await make_gateway(_credit_burn, store=RedisStore.from_url(redis_url))
    good = gw.gw.plan
    assert good is not None and (await _plan_status(http, gw, lambda p: True))["error"] is None
    r = aioredis.Redis.from_url(redis_url)
    with structlog.testing.capture_logs() as logs:
        await r.set(COUNTER, "1.5e3")
        plan = await _plan_status(http, gw, lambda p: p["consecutive_failures"] >= 3)
        assert COUNTER in plan["error"]["reason"] and plan["error"]["reason"].startswith("PlanError: ")
        assert plan["error"]["since"] is not None and plan["made_at"] == good.made_at
        got = await _metrics(http, gw)
        assert got['qiao_planner_replan_failures_total{error="PlanError"}'] >= 3
        assert got["qiao_planner_consecutive_failures"] >= 3
        status, body = await call(http, gw, "GET", "/admin/plan")
        assert status == 503 and body["error"]["code"] == "replan_failed" and COUNTER in body["error"]["message"]
        served = await gw.client().chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
        assert served.http_response.status_code == 200 and gw.gw.plan is good
        gw.clock.advance(3601)
        await _plan_status(http, gw, lambda p: p["error"]["last_at"] >= gw.clock.now)
        await r.set(COUNTER, "1500")
        plan = await _plan_status(http, gw, lambda p: p["error"] is None)
    await r.aclose()
    failed = [e for e in logs if e["event"] == "replan_failed"]
    assert len(failed) == 1 and COUNTER in failed[0]["reason"] and "planner.py" in failed[0]["where"]
    assert len([e for e in logs if e["event"] == "replan_still_failing"]) == 1
    assert [e["event"] for e in logs].count("replan_recovered") == 1
    assert not [e for e in logs if "exc_info" in e or "exception" in e]
    assert plan["consecutive_failures"] == 0 and plan["made_at"] > good.made_at
    assert (await _metrics(http, gw))["qiao_planner_consecutive_failures"] == 0


def _mid_hour() -> float:
    return (time.time() // 3600) * 3600 + 1800


def _small_pack(cfg: dict[str, Any]) -> None:
    ds_b_pack(30_000)(cfg)  # chat on credit-burn; ds-b (index 1) holds a 30k-token pack
    cfg["planning"] = {"replan_s": 3600}  # no periodic re-plan within the test


async def _served(emulator: EmulatorHandle, account: str) -> int:
    return int((await emulator.stats()).get(account, {}).get("total_tokens", 0))


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_grant_spent_before_the_plan_expected_has_it_re_made_at_once(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, backend: str, redis_url: str, http: aiohttp.ClientSession
) -> None:
    """The plan sends all of chat to ds-b while its 30k pack lasts (price 0 there, list price 2 beside qwen's
    0.8). Requests of ~7k tokens spend it; the one that pays for its rest, on a plan younger than STALE_GAP_S,
    changes nothing (a plan is not re-made in a storm). Past that age the next paid request on ds-b (a stream
    from the sync SDK, booked as it ends) wakes the planner's loop long before its hour: one ``plan_stale`` line,
    a plan made now that prices ds-b at list and sends what follows to qwen, counted in the status and /metrics
    by reason. Requests paid on qwen after it wake nothing (each is priced as planned)."""
    store: StateStore | None = RedisStore.from_url(redis_url) if backend == "redis" else None
    gw = await make_gateway(_small_pack, store=store, clock=Clock(_mid_hour()))  # no hour's re-plan in the test
    book_chat_forecast(gw.gw.ledger, gw.clock(), per_hour=20_000)
    await gw.gw.replan()
    first = gw.gw.plan
    assert first is not None and first.routes["chat"].share_to == (1,) and first.routes["chat"].price[1] == 0.0
    client, document = gw.client(), "桥梁把两岸连在一起。" * 700  # ~7,000 tokens
    with structlog.testing.capture_logs() as logs:
        for _ in range(6):  # 42k tokens asked of a 30k pack: the last two are paid, the plan too young to mind
            await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": document}])
        assert await _served(emulator, "deepseek.b") > 30_000 and gw.gw.plan is first
        assert not gw.gw.stale.is_set()
        gw.clock.advance(STALE_GAP_S + 1)
        sync = gw.sync_client()

        def stream() -> str:  # the sync SDK, streamed: a stream is booked as it ends
            chunks = sync.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": document}], stream=True
            )
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

        assert await asyncio.to_thread(stream)
        t0 = time.monotonic()
        while gw.gw.plan is first:
            assert time.monotonic() - t0 < 10.0, "no re-plan after the stale booking"
            await asyncio.sleep(0.02)
        plan = gw.gw.plan
        assert plan is not None and plan.made_at == gw.clock() and plan.routes["chat"].price[1] > 0
        on_ds, on_qwen = await _served(emulator, "deepseek.b"), await _served(emulator, "qwen")
        gw.clock.advance(STALE_GAP_S + 1)
        for _ in range(3):
            await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": document}])
        assert await _served(emulator, "deepseek.b") == on_ds and await _served(emulator, "qwen") > on_qwen
    assert gw.gw.replans.stale == {"grant_spent": 1}  # counted as the loop is woken, before it re-plans
    stale = [e for e in logs if e["event"] == "plan_stale"]
    assert len(stale) == 1 and stale[0]["provider"] == "ds-b" and stale[0]["reason"] == "grant_spent", stale
    assert (await _plan_status(http, gw, lambda p: True))["stale_total"] == {"grant_spent": 1}
    assert (await _metrics(http, gw))['qiao_planner_stale_total{reason="grant_spent"}'] == 1


def test_a_stale_plan_wakes_the_planner_at_most_once_per_gap() -> None:
    """``Gateway.booked`` on a plan that prices ds-b (index 1) at 0: a booking paid there wakes the loop (one
    ``plan_stale`` line); while the loop's re-plan fails (the plan in force stays), paid bookings within
    STALE_GAP_S of that wake do not wake it again, and one past it does. A booking paid on a candidate the plan
    prices at list, or one a grant paid whole, never wakes it."""
    raw = base_config("http://127.0.0.1:9")  # nothing is sent
    _small_pack(raw)
    cfg = config_mod.parse(raw, "test")
    clock = Clock(1_000_000.0)
    gw = Gateway(cfg, MemoryStore(), clock)
    gw.apply(cfg)
    gw.plan = Plan(made_at=clock(), routes={"chat": RoutePlan(price={0: 2.0, 1: 0.0, 2: 0.8})})
    ds_a, ds_b, qwen = gw.routes["chat"].choices
    paid, granted = Cost(paid=500, granted=0), Cost(paid=0, granted=500)
    with structlog.testing.capture_logs() as logs:
        clock.advance(STALE_GAP_S + 1)
        for choice, cost in ((ds_a, paid), (qwen, paid), (ds_b, granted)):
            gw.booked("chat", choice, cost)
            assert not gw.stale.is_set()
        gw.booked("chat", ds_b, paid)
        assert gw.stale.is_set()
        gw.stale.clear()  # the loop took it; its re-plan failed
        clock.advance(STALE_GAP_S - 1)
        gw.booked("chat", ds_b, paid)
        assert not gw.stale.is_set()
        clock.advance(2)
        gw.booked("chat", ds_b, paid)
        assert gw.stale.is_set()
    assert [e["event"] for e in logs].count("plan_stale") == 2


async def test_the_plan_is_re_made_when_its_hour_ends(make_gateway: GatewayFactory) -> None:
    """A plan's shares are its hour's: with ``replan_s`` an hour, a plan made 2 s before the hour turns is
    re-made just after it (within HOUR_EDGE_S and the solve), not an hour later; then the loop waits the full
    period again (no second re-plan in that hour)."""
    edge = (time.time() // 3600 + 1) * 3600
    gw = await make_gateway(_small_pack, clock=Clock(edge - 2.0))
    first = gw.gw.plan
    assert first is not None and first.until == edge
    gw.clock.advance(2.0 + HOUR_EDGE_S)  # the loop sleeps ~3 s of real time meanwhile
    t0 = time.monotonic()
    while gw.gw.plan is first:
        assert time.monotonic() - t0 < 15.0, "no re-plan when the plan's hour ended"
        await asyncio.sleep(0.05)
    second = gw.gw.plan
    assert second is not None and second.made_at >= edge and second.until == edge + 3600
    assert gw.gw.next_replan_s() >= second.until - gw.clock()
