"""Idempotency-Key replies: one contract for the memory and the Redis store, and Redis out of reach."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog

from balancer.state import keys
from balancer.state.connect import client_for
from balancer.state.replies import Kept, MemoryReplies, RedisReplies, ReplyStore
from tests.redis_server import RedisServer, free_port

T0 = 1_800_000_000.0
REPLY = Kept(200, {"Content-Type": "application/json", "x-qiao-route": "chat"}, '{"答": "一次"}'.encode())


@pytest.fixture(params=["memory", "redis"])
async def replies(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[ReplyStore]:
    if request.param == "memory":
        yield MemoryReplies()
        return
    client, _ = client_for(redis_url)  # as the gateway connects (responses decoded to text)
    yield RedisReplies(client)
    await client.aclose()


async def test_one_claim_at_a_time_then_the_kept_reply(replies: ReplyStore) -> None:
    """The first claim on a key holds it; another token's claim is refused while it holds; the holder keeps its
    reply, and every later claim gets that reply, byte for byte (Chinese text included)."""
    assert await replies.claim("s", "P:a", T0, 60) is True
    assert await replies.claim("s", "P:b", T0 + 1, 60) is False
    await replies.keep("s", "P:a", REPLY, T0 + 2, 3600)
    assert await replies.claim("s", "P:b", T0 + 3, 60) == REPLY
    assert await replies.claim("other", "P:b", T0 + 3, 60) is True  # keys are apart


async def test_a_claim_given_up_frees_the_key_and_a_stranger_cannot_end_it(replies: ReplyStore) -> None:
    """Keeping nothing (a stream, a failure) frees the key for the next request; a token that does not hold the
    claim changes nothing, neither keeping a reply nor giving the claim up."""
    assert await replies.claim("s", "P:a", T0, 60) is True
    await replies.keep("s", "P:x", REPLY, T0, 3600)
    await replies.keep("s", "P:x", None, T0, 3600)
    assert await replies.claim("s", "P:b", T0, 60) is False
    await replies.keep("s", "P:a", None, T0, 3600)
    assert await replies.claim("s", "P:b", T0, 60) is True


async def test_a_claim_whose_holder_vanished_lapses(replies: ReplyStore) -> None:
    """A claim holds for hold_s and no longer (its holder crashed): the next request then claims the key, and the
    late holder's reply is not kept over the new claim. (Redis expires by its own clock: polled, bounded.)"""
    assert await replies.claim("s", "P:a", T0, 0.05) is True
    deadline = time.monotonic() + 5.0
    now = T0 + 0.06
    while (got := await replies.claim("s", "P:b", now, 60)) is False and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert got is True
    await replies.keep("s", "P:a", REPLY, now, 3600)
    assert await replies.claim("s", "P:c", now, 60) is False  # still P:b's


async def test_a_kept_reply_expires() -> None:
    """A reply is kept for ttl_s; after it the key is free again (memory store, virtual time)."""
    replies = MemoryReplies()
    assert await replies.claim("s", "P:a", T0, 60) is True
    await replies.keep("s", "P:a", REPLY, T0, 10)
    assert await replies.claim("s", "P:b", T0 + 9, 60) == REPLY
    assert await replies.claim("s", "P:b", T0 + 11, 60) is True


async def test_the_memory_store_is_bounded() -> None:
    """At most max_entries keys are held; the oldest go first."""
    replies = MemoryReplies(max_entries=3)
    for i in range(5):
        assert await replies.claim(f"s{i}", "P:a", T0, 60) is True
    assert await replies.claim("s0", "P:b", T0, 60) is True  # s0 and s1 were dropped
    assert await replies.claim("s4", "P:b", T0, 60) is False


async def test_redis_keys_carry_no_idempotency_key(redis_url: str) -> None:
    """The reply's Redis key is built by keys.reply from the scope (a sha256), and expires."""
    client, _ = client_for(redis_url)
    try:
        replies = RedisReplies(client)
        assert await replies.claim("abc123", "P:a", T0, 60) is True
        await replies.keep("abc123", "P:a", REPLY, T0, 3600)
        assert await client.exists(keys.reply("abc123")) == 1
        assert 3500 < await client.ttl(keys.reply("abc123")) <= 3600
    finally:
        await client.aclose()


async def test_redis_out_of_reach_degrades_to_sending_the_request() -> None:
    """With no Redis listening, a claim is granted (the request is sent, as without the header) and keeping the
    reply raises nothing: idempotency degrades, serving does not. The outage is logged once, not per request."""
    client, _ = client_for(f"redis://127.0.0.1:{free_port()}")  # as the gateway connects: no retries
    try:
        replies = RedisReplies(client)
        with structlog.testing.capture_logs() as logs:
            assert await replies.claim("s", "P:a", T0, 60) is True
            assert await replies.claim("s", "P:b", T0, 60) is True
            await replies.keep("s", "P:a", REPLY, T0, 3600)
        assert [e["event"] for e in logs] == ["idempotency_store_unavailable"] and replies.unreachable
    finally:
        await client.aclose()


async def test_after_a_failure_redis_is_left_alone_for_a_pause(tmp_path: Path) -> None:
    """Once a call fails, claims are granted without asking Redis for 0.1 s (doubling while it stays away), so a
    request does not wait out a connect timeout per call in an outage: with the server back within the pause, a
    claim sets no key there; after it, claims reach Redis again (and the return is logged)."""
    server = RedisServer(tmp_path / "r").start()
    client, _ = client_for(server.url)
    try:
        replies = RedisReplies(client)
        server.stop()
        with structlog.testing.capture_logs() as logs:
            assert await replies.claim("s", "P:a", T0, 60) is True  # fails: the pause starts
            server.start()
            assert await replies.claim("s", "P:b", T0 + 0.05, 60) is True  # within it: Redis not asked
            assert await client.exists(keys.reply("s")) == 0
            assert await replies.claim("s", "P:c", T0 + 0.2, 60) is True  # after it: the claim is set
            assert await client.get(keys.reply("s")) == "P:c"
        assert [e["event"] for e in logs] == ["idempotency_store_unavailable", "idempotency_store_reachable"]
    finally:
        await client.aclose()
        server.stop()
