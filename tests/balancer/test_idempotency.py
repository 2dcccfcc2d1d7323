"""Idempotency-Key around a handler, on a real aiohttp server: one answer per key, and Redis out of reach."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from balancer.idempotency import Replays
from balancer.state.connect import client_for
from balancer.state.replies import MemoryReplies, RedisReplies, ReplyStore
from tests.redis_server import free_port

Serve = Callable[[ReplyStore], Awaitable[tuple[str, list[int]]]]


async def _read(request: web.Request) -> bytes:
    """The admission check of a bare handler: its body."""
    return await request.read()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(replies: ReplyStore) -> tuple[str, list[int]]:
        calls: list[int] = []

        async def handler(request: web.Request) -> web.Response:
            calls.append(1)
            await asyncio.sleep(0.2)  # in flight while the repeat arrives
            if request.query.get("fail") == str(len(calls)):  # ?fail=N: the Nth call is a vendor failure
                return web.json_response({"error": {"type": "upstream_error"}}, status=502)
            return web.json_response({"n": len(calls), "答": "好"})

        app = web.Application()
        app.router.add_post("/", Replays(_read, replies).wrap(handler))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/", calls

    yield start
    for r in runners:
        await r.cleanup()


async def _twice(url: str) -> list[tuple[int, str | None, bytes]]:
    async with aiohttp.ClientSession() as http:

        async def one() -> tuple[int, str | None, bytes]:
            async with http.post(url, json={}, headers={"Idempotency-Key": "k", "Authorization": "Bearer x"}) as r:
                return r.status, r.headers.get("x-qiao-idempotent-replay"), await r.read()

        return list(await asyncio.gather(one(), one()))


async def test_a_repeat_in_flight_waits_for_the_first_answer(
    serve: Serve,
) -> None:
    """Two requests with one key at once: the handler runs once, the second gets its reply, marked a replay."""
    url, calls = await serve(MemoryReplies())
    answers = await _twice(url)
    assert len(calls) == 1 and answers[0][2] == answers[1][2]
    assert sorted(str(a[1]) for a in answers) == ["None", "true"]


async def test_redis_out_of_reach_sends_both_and_fails_neither(
    serve: Serve,
) -> None:
    """With the replies' Redis out of reach, two requests with one key at once are both answered (200, each its
    own reply): idempotency degrades to sending the request, never to an error."""
    client, _ = client_for(f"redis://127.0.0.1:{free_port()}")  # as the gateway connects: no retries
    try:
        url, calls = await serve(RedisReplies(client))
        answers = await _twice(url)
    finally:
        await client.aclose()
    assert [a[0] for a in answers] == [200, 200] and len(calls) == 2
    assert [a[1] for a in answers] == [None, None]


async def test_a_failure_is_not_kept_and_the_retry_is_answered_afresh(serve: Serve) -> None:
    """A first answer that is not a whole 200 (here a 502) frees the key: the retry reaches the handler and its 200
    is kept, so the third is a replay of the second, not of the failure."""
    url, calls = await serve(MemoryReplies())
    seen = []
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(url + "?fail=1", json={}, headers={"Idempotency-Key": "k"}) as r:
                seen.append((r.status, r.headers.get("x-qiao-idempotent-replay"), await r.read()))
    assert [x[:2] for x in seen] == [(502, None), (200, None), (200, "true")] and seen[1][2] == seen[2][2]
    assert len(calls) == 2
