"""Client keys across instances sharing Redis: a key made on one is honoured by the other, its limits and budget
hold for the pair, and a revoke reaches the other within two seconds."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import redis.asyncio as aioredis
import structlog

from balancer.clients import POLL_S
from balancer.state import keys
from balancer.state.redis import RedisStore
from tests.balancer.admin.test_admin_api import call
from tests.balancer.admin.test_client_keys import chat, make_key
from tests.conftest import CLIENT_KEY, Clock, GatewayFactory, GatewayHandle


async def _until(http: aiohttp.ClientSession, gw: GatewayHandle, key: str, status: int, within_s: float) -> float:
    """Seconds until ``key`` gets ``status`` from ``gw`` (polled every 50 ms; fails past ``within_s``)."""
    t0 = time.monotonic()
    while (got := (await chat(http, gw, key))[0]) != status:
        assert time.monotonic() - t0 < within_s, f"still {got} after {within_s}s"
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


async def test_keys_limits_and_budgets_hold_across_instances(
    make_gateway: GatewayFactory, redis_url: str, http: aiohttp.ClientSession
) -> None:
    """Made on A, the key serves on B within two seconds; its RPM is shared (leases: the pair serves exactly the
    limit); revoked on A, B refuses it within two seconds. A budget spent on A is refused on B after the ledger's
    pull (within ~2 s)."""
    clock = Clock()  # one minute window and one day for both
    a = await make_gateway(store=RedisStore.from_url(redis_url), clock=clock)
    b = await make_gateway(store=RedisStore.from_url(redis_url), clock=clock)
    secret = await make_key(http, a, name="shared", limits={"rpm": 6})
    await _until(http, b, secret, 200, within_s=2.5)  # one request served on B
    served = [(await chat(http, gw, secret))[0] for gw in (a, b, a, b, a, b, a, b)]
    assert served.count(200) == 5 and served.count(429) == 3  # 6 in the minute, across both
    await call(http, a, "DELETE", "/admin/keys/shared")
    assert await _until(http, b, secret, 401, within_s=2.5) < 2.5
    budget = await make_key(http, a, name="budget", daily_budget=0.00001)
    await _until(http, b, budget, 200, within_s=2.5)  # B served it once: over budget now, booked on B
    if (await chat(http, a, budget))[0] == 200:  # A had not pulled B's spend yet
        await _until(http, a, budget, 429, within_s=3.0)
    _, key = await call(http, a, "GET", "/admin/keys/budget")
    assert key["spent_today_cny"] > 0.00001


async def test_a_hand_edited_key_table_version_keeps_the_table_and_its_poll(
    make_gateway: GatewayFactory, redis_url: str, http: aiohttp.ClientSession
) -> None:
    """The shared client key table's version hand-edited to a non-integer: a gateway still starts and serves the
    config's keys, logs it once (no traceback, however many polls), and keeps polling: the version fixed, a key
    made on another instance is honoured within two seconds."""
    r = aioredis.Redis.from_url(redis_url)
    await r.set(keys.CLIENT_KEYS_VERSION, "v2")
    with structlog.testing.capture_logs() as logs:
        a = await make_gateway(store=RedisStore.from_url(redis_url))
        assert (await chat(http, a, CLIENT_KEY))[0] == 200
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3 * POLL_S:  # a few polls of the unreadable version
            await asyncio.sleep(0.05)
    unread = [e for e in logs if e["event"] == "client_keys_unreadable"]
    assert len(unread) == 1 and keys.CLIENT_KEYS_VERSION in unread[0]["reason"] and "'v2'" in unread[0]["reason"]
    assert not [e for e in logs if "exc_info" in e or "exception" in e]
    await r.set(keys.CLIENT_KEYS_VERSION, "7")
    await r.aclose()
    b = await make_gateway(store=RedisStore.from_url(redis_url))
    secret = await make_key(http, b, name="late")
    assert await _until(http, a, secret, 200, within_s=2.5) < 2.5
