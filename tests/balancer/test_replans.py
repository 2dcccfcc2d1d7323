"""A credit re-plan that fails, as operators meet it: a real gateway on Redis whose grant counter an operator
hand-edited to a non-integer. One log line per distinct failure (no traceback), the status and metrics show it,
the plan in force keeps routing, and the recovery is logged once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import redis.asyncio as aioredis
import structlog

from balancer.state import keys
from balancer.state.redis import RedisStore
from tests.balancer.admin.test_admin_api import SOON, call
from tests.conftest import ADMIN_KEY, CHAT, GatewayFactory, GatewayHandle, auth

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
