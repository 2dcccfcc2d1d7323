"""A small aiohttp upstream that misbehaves the ways a network can: answers that never come, bytes without
progress (SSE comments only), a stream that never ends, a body that trickles forever, a line without an end, a body held open after its [DONE], a reply larger than a client may read.

Every path is ``/<behaviour>/chat/completions`` so a provider's ``base_url`` selects a behaviour.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from aiohttp import web

from tests.conftest import start_site

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


async def flood(request: web.Request) -> web.StreamResponse:
    """A whole stream as fast as it can be written: 400 chunks of 64 KiB of content, then finish and [DONE]."""
    resp = await _sse(request)
    chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "a" * 65536}}]}
    for _ in range(400):
        await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    end = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    await resp.write(b"data: " + json.dumps(end).encode() + b"\n\ndata: [DONE]\n\n")
    return resp


BIG_TEXT = 16 << 20  # characters of content in the "big" reply (a large, valid answer)


async def big(request: web.Request) -> web.Response:
    """A valid non-stream reply whose content is BIG_TEXT characters (far more than socket buffers hold)."""
    message = {"role": "assistant", "content": "a" * BIG_TEXT}
    usage = {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    choices = [{"index": 0, "message": message, "finish_reason": "stop"}]
    return web.json_response({"id": "c", "object": "chat.completion", "choices": choices, "usage": usage})


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
        "big": big,
        "flood": flood,
    }.items():
        app.router.add_post(f"/{name}/chat/completions", handler)
    return app


async def serve() -> AsyncIterator[str]:
    """Run the upstream on a free port; yields its base URL."""
    runner, url = await start_site(make_app(), shutdown_timeout=0.1)
    yield url
    await runner.cleanup()
