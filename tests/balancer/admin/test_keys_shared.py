"""Client keys across instances sharing Redis: a key made on one is honoured by the other, its limits and budget
hold for the pair, and a revoke reaches the other within two seconds."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from balancer.state.redis import RedisStore
from tests.balancer.admin.test_admin_api import call
from tests.balancer.admin.test_client_keys import chat, make_key
from tests.conftest import Clock, GatewayFactory, GatewayHandle


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
