"""A small aiohttp upstream that misbehaves the ways a network can: answers that never come, bytes without
progress (SSE comments only), a stream that never ends, a body that trickles forever, a line without an end, a body held open after its [DONE].

Every path is ``/<behaviour>/chat/completions`` so a provider's ``base_url`` selects a behaviour.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from aiohttp import web

CHUNK = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "好"}}]}


async def _sse(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    return resp


async def hang(request: web.Request) -> web.StreamResponse:
    """Reads the request, then never answers."""
    await request.read()
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def comments(request: web.Request) -> web.StreamResponse:
    """Headers at once, then only ``: keep-alive`` comments, forever (a vendor's queue that never moves)."""
    resp = await _sse(request)
    while True:
        await resp.write(b": keep-alive\n\n")
        await asyncio.sleep(0.1)


async def one_then_comments(request: web.Request) -> web.StreamResponse:
    """One real chunk, then only comments and blank lines, forever."""
    resp = await _sse(request)
    await resp.write(b"data: " + json.dumps(CHUNK).encode() + b"\n\n")
    while True:
        await resp.write(b": ping\n\n\n")
        await asyncio.sleep(0.1)


async def endless(request: web.Request) -> web.StreamResponse:
    """Valid chunks every 100 ms, never a finish_reason nor [DONE]."""
    resp = await _sse(request)
    while True:
        await resp.write(b"data: " + json.dumps(CHUNK).encode() + b"\n\n")
        await asyncio.sleep(0.1)


async def trickle(request: web.Request) -> web.StreamResponse:
    """A JSON reply's head, then one byte of its body every 100 ms, forever."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(b'{"choices": [')
    while True:
        await resp.write(b" ")
        await asyncio.sleep(0.1)


async def done_then_hold(request: web.Request) -> web.StreamResponse:
    """A whole stream with its [DONE], then the body is held open (its last chunk never comes)."""
    resp = await _sse(request)
    await resp.write(b"data: " + json.dumps(CHUNK).encode() + b"\n\ndata: [DONE]\n\n")
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def unending_line(request: web.Request) -> web.StreamResponse:
    """A ``data:`` line that never ends, as fast as the gateway reads it."""
    resp = await _sse(request)
    await resp.write(b'data: {"choices": [{"delta": {"content": "')
    block = "好".encode() * 65536
    while True:
        await resp.write(block)


def make_app() -> web.Application:
    app = web.Application()
    for name, handler in {
        "hang": hang,
        "comments": comments,
        "one-then-comments": one_then_comments,
        "endless": endless,
        "trickle": trickle,
        "unending-line": unending_line,
        "done-then-hold": done_then_hold,
    }.items():
        app.router.add_post(f"/{name}/chat/completions", handler)
    return app


async def serve() -> AsyncIterator[str]:
    """Run the upstream on a free port; yields its base URL."""
    runner = web.AppRunner(make_app(), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()
