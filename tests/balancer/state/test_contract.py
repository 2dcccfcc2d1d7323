"""The state-store contract: every store (memory here; Redis joins in its own module) passes these.

Time is virtual: each test passes ``now`` explicitly, nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from balancer.config import Limits
from balancer.config_failover import Breaker
from balancer.state import StateStore
from balancer.state.memory import MemoryStore
from tests.redis_server import RedisServer

T0 = 1_800_000_000.0  # a minute boundary: 30_000_000 * 60
BREAKER = Breaker(
    window_s=30, min_requests=10, error_rate=0.5, consecutive_failures=3, open_s=10, max_open_s=40, half_open_probes=1
)
NO_LIMITS = Limits()

StoreFactory = Callable[[], Awaitable[StateStore]]

STORES: dict[str, StoreFactory] = {}


async def _memory() -> StateStore:
    return MemoryStore()


STORES["memory"] = _memory
STORES["redis"] = _memory  # placeholder: the redis param builds its store from the redis_url fixture


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, redis_server: RedisServer) -> AsyncIterator[StateStore]:
    if request.param == "redis":
        import redis.asyncio as aioredis

        from balancer.state.redis import RedisStore

        flush = aioredis.Redis.from_url(redis_server.url)
        await flush.flushall()
        await flush.aclose()
        s: StateStore = RedisStore.from_url(redis_server.url)
    else:
        s = await STORES[request.param]()
    await s.start()
    yield s
    await s.close()


async def served(
    store: StateStore,
    verdict: str = "ok",
    now: float = T0,
    provider: str = "p",
    model: str = "m",
    limits: Limits = NO_LIMITS,
    tokens: int = 10,
    used: int | None = None,
) -> bool:
    adm = await store.admit(provider, model, limits, tokens, BREAKER, now)
    if not adm.ok:
        return False
    await store.settle(adm, tokens if used is None else used, verdict, 5.0, BREAKER, now)  # type: ignore[arg-type]
    return True


async def test_rpm_limit_per_minute_window(store: StateStore) -> None:
    """RPM admits exactly the limit within a minute and resets in the next one."""
    limits = Limits(rpm=3)
    results = [await served(store, limits=limits, now=T0 + i) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert await served(store, limits=limits, now=T0 + 60)


async def test_tpm_counts_real_tokens_after_settle(store: StateStore) -> None:
    """TPM reserves the estimate, then books what was really used."""
    limits = Limits(tpm=100)
    assert await served(store, limits=limits, tokens=80, used=20)  # 20 booked
    assert await served(store, limits=limits, tokens=70, used=70)  # 90 booked
    assert not await served(store, limits=limits, tokens=20)  # 110 > 100
    assert await served(store, limits=limits, tokens=10)


async def test_concurrency_limit(store: StateStore) -> None:
    """No more than `concurrency` reservations are held at once; settling frees a slot."""
    limits = Limits(concurrency=2)
    a = await store.admit("p", "m", limits, 1, BREAKER, T0)
    b = await store.admit("p", "m", limits, 1, BREAKER, T0)
    c = await store.admit("p", "m", limits, 1, BREAKER, T0)
    assert a.ok and b.ok and not c.ok and c.reason == "concurrency"
    await store.settle(a, 1, "ok", 1.0, BREAKER, T0)
    assert (await store.admit("p", "m", limits, 1, BREAKER, T0)).ok


async def test_breaker_opens_on_consecutive_failures(store: StateStore) -> None:
    """Three failures in a row open the breaker; the candidate is refused until open_s passes."""
    for _ in range(3):
        assert await served(store, "fail")
    adm = await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0 + 1)
    assert not adm.ok and adm.reason == "breaker_open" and adm.retry_at == T0 + 10
    assert not store.health("p", "m", T0 + 1).available


async def test_breaker_opens_on_error_rate(store: StateStore) -> None:
    """An error rate over the threshold in the window opens the breaker even without a streak."""
    for i in range(10):
        await served(store, "fail" if i % 2 else "ok", now=T0 + i * 0.1)
    assert not (await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0 + 2)).ok


async def test_old_failures_leave_the_window(store: StateStore) -> None:
    """Failures older than the window do not count toward the error rate."""
    for i in range(8):
        await served(store, "fail" if i % 4 == 0 else "ok", now=T0 + i)
    for i in range(6):
        await served(store, "ok" if i % 2 else "fail", now=T0 + 100 + i * 0.1)
    assert (await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0 + 101)).ok


async def test_neutral_outcomes_do_not_trip_the_breaker(store: StateStore) -> None:
    """Rate limits and client errors say nothing about health: they never open the breaker."""
    for _ in range(10):
        await served(store, "neutral")
    assert (await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0)).ok


async def test_half_open_probe_success_closes(store: StateStore) -> None:
    """After open_s one probe is let through (others wait); its success closes the breaker."""
    for _ in range(3):
        await served(store, "fail")
    probe = await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0 + 11)
    assert probe.ok and probe.probe
    other = await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0 + 11)
    assert not other.ok and other.reason == "breaker_half_open"
    await store.settle(probe, 1, "ok", 3.0, BREAKER, T0 + 11)
    assert all([await served(store, now=T0 + 12) for _ in range(3)])


async def test_half_open_probe_failure_reopens_longer(store: StateStore) -> None:
    """A failed probe reopens the breaker for twice as long (capped at max_open_s)."""
    for _ in range(3):
        await served(store, "fail")
    probe = await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0 + 11)
    await store.settle(probe, 0, "fail", 3.0, BREAKER, T0 + 11)
    adm = await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0 + 20)
    assert not adm.ok and adm.retry_at == T0 + 31
    assert (await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0 + 31)).probe


async def test_cooldown_max_semantics_and_scope(store: StateStore) -> None:
    """A cooldown is never shortened; a provider-wide one covers every model of the account."""
    assert await store.cool_down("p", T0 + 50, "quota_exhausted", T0) == T0 + 50
    assert await store.cool_down("p", T0 + 10, "rate_limited", T0) == T0 + 50
    adm = await store.admit("p", "other-model", NO_LIMITS, 1, BREAKER, T0 + 1)
    assert not adm.ok and adm.reason == "cooldown:quota_exhausted" and adm.retry_at == T0 + 50
    assert (await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0 + 50)).ok


async def test_clear_only_matching_reason(store: StateStore) -> None:
    """A balance refresh clears a quota disable but not a cooldown for another reason."""
    await store.cool_down("p", T0 + 500, "quota_exhausted", T0)
    await store.cool_down("q", T0 + 500, "auth_failed", T0)
    await store.clear("p", "quota_exhausted")
    await store.clear("q", "quota_exhausted")
    assert store.health("p", "m", T0).available
    assert not store.health("q", "m", T0).available


async def test_latency_ewma(store: StateStore) -> None:
    """Successful attempts feed a latency average that health reports."""
    adm = await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0)
    await store.settle(adm, 1, "ok", 100.0, BREAKER, T0)
    adm = await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0)
    await store.settle(adm, 1, "ok", 200.0, BREAKER, T0)
    lat = store.health("p", "m", T0).latency_ms
    assert lat is not None and 100 < lat < 200


async def test_quota_shows_this_minute_and_what_is_in_flight(store: StateStore) -> None:
    """quota() reports the requests and tokens taken against an account this minute, and its requests in
    flight; a new minute starts from zero (what the operator's providers view shows)."""
    limits = Limits(rpm=100, tpm=10_000, concurrency=5)
    held = await store.admit("p", "m", limits, 300, BREAKER, T0)
    assert held.ok
    await served(store, limits=limits, tokens=100)
    q = await store.quota("p", T0 + 1)
    assert q.requests >= 2 and q.tokens >= 400 and q.in_flight == 1
    await store.settle(held, 200, "ok", 10.0, BREAKER, T0 + 2)
    assert (await store.quota("p", T0 + 3)).in_flight == 0
    assert (await store.quota("p", T0 + 61)).requests == 0
    assert (await store.quota("nobody", T0)).requests == 0


async def test_cooldown_is_readable_and_a_breaker_can_be_reset(store: StateStore) -> None:
    """cooldown() reports (until, reason) of a cooldown in force; reset_breaker() closes an open breaker now."""
    assert store.cooldown("q", T0) is None
    await store.cool_down("q", T0 + 60, "drained", T0)
    assert store.cooldown("q", T0 + 1) == (T0 + 60, "drained")
    assert store.cooldown("q", T0 + 61) is None
    for i in range(3):
        await served(store, "fail", now=T0 + i)
    assert not store.health("p", "m", T0 + 4).available
    await store.reset_breaker("p/m")
    for _ in range(50):  # other instances' events arrive asynchronously (Redis): bounded wait for them to settle
        if store.health("p", "m", T0 + 4).available:
            break
        await asyncio.sleep(0.02)
    assert store.health("p", "m", T0 + 4).available
    assert (await store.admit("p", "m", NO_LIMITS, 1, BREAKER, T0 + 4)).ok
