"""Two Redis stores on one real Redis: each mirrors the cooldowns and breakers the other sets and clears, by
pub/sub within about a second, and what no event told it (a write to the health hash alone) by the periodic
resync."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from balancer.state import keys
from balancer.state.mirror import RESYNC_S
from balancer.state.redis import RedisStore


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    a, b = RedisStore.from_url(redis_url), RedisStore.from_url(redis_url)
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


async def within(seconds: float, cond: Callable[[], bool]) -> bool:
    """Whether ``cond()`` holds at some poll before ``seconds`` have passed."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(0.02)
    return cond()


async def test_a_cooldown_set_and_cleared_on_one_store_is_mirrored_by_the_other(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    """A cooldown one store sets shows on the other with its end and reason; cleared, it leaves the other too."""
    a, b = pair
    until = time.time() + 300
    await a.cool_down("ds-a/deepseek-chat", until, "quota_exhausted", time.time())
    assert await within(3.0, lambda: b.cooldown("ds-a/deepseek-chat", time.time()) is not None)
    assert b.cooldown("ds-a/deepseek-chat", time.time()) == (until, "quota_exhausted")
    await a.clear("ds-a/deepseek-chat", "quota")
    assert await within(3.0, lambda: b.cooldown("ds-a/deepseek-chat", time.time()) is None)


async def test_a_breaker_opened_elsewhere_and_reset_on_one_store_closes_on_the_other(
    pair: tuple[RedisStore, RedisStore], redis_url: str
) -> None:
    """A breaker opened as health.lua opens one (the hash entry and its event) shows open on both stores; reset
    on one, it closes on the other."""
    a, b = pair
    until = time.time() + 300
    field = keys.breaker_field("qwen/qwen-plus")
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.hset(keys.HEALTH, field, f"{until!r}|breaker")
    await client.publish(keys.EVENTS, f"set|{field}|{until!r}|breaker")
    await client.aclose()
    assert await within(3.0, lambda: a.breaker_until("qwen/qwen-plus") > 0 and b.breaker_until("qwen/qwen-plus") > 0)
    await a.reset_breaker("qwen/qwen-plus")
    assert await within(3.0, lambda: b.breaker_until("qwen/qwen-plus") == 0.0)


async def test_an_entry_no_event_announced_is_picked_up_by_the_resync(
    pair: tuple[RedisStore, RedisStore], redis_url: str
) -> None:
    """A cooldown written to the health hash with no event published (a lost message) reaches a store within a
    few resync periods."""
    _, b = pair
    until = time.time() + 300
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.hset(keys.HEALTH, keys.cooldown_field("zhipu/glm-4-plus"), f"{until!r}|auth")
    await client.aclose()
    assert b.cooldown("zhipu/glm-4-plus", time.time()) is None
    assert await within(3 * RESYNC_S + 2, lambda: b.cooldown("zhipu/glm-4-plus", time.time()) is not None)
    assert b.cooldown("zhipu/glm-4-plus", time.time()) == (until, "auth")
