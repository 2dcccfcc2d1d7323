"""A small aiohttp upstream whose replies are JSON no decoder should be trusted with: nested thousands of levels
deep, numbers no integer type holds, token counts below 0, no usage at all, embedding vectors no float32 holds. Every
path is ``/<behaviour>/<levels>/chat/completions`` (or ``/embeddings``, or a batch API's ``/files``), so a provider's
``base_url`` picks both; a chat request with ``"stream": true`` is answered as SSE. ``GET /_calls`` counts the chat
requests each ``<behaviour>/<levels>`` received.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator

from aiohttp import web

from tests.conftest import start_site

CHUNK = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "好"}}]}
REPLY = {
    "id": "r",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "好"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def nested(levels: int) -> str:
    """JSON text nesting ``levels`` arrays (half of them objects) one in another."""
    half = levels // 2
    return '{"a":[' * half + "[" * (levels - 2 * half) + "]" * (levels - 2 * half) + "]}" * half


def with_field(obj: dict[str, object], levels: int) -> bytes:
    """``obj`` as JSON with one more field, ``extra``, nesting ``levels`` deep (a field no decoder asks for)."""
    return (json.dumps(obj)[:-1] + ', "extra": ' + nested(levels) + "}").encode()


async def _events(request: web.Request, *events: bytes) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for event in events:
        await resp.write(event + b"\n\n")
    return resp


CALLS = web.AppKey("calls", Counter[str])


async def chat(request: web.Request) -> web.StreamResponse:
    behaviour, levels = request.match_info["behaviour"], int(request.match_info["levels"])
    request.app[CALLS][f"{behaviour}/{levels}"] += 1
    stream = (await request.json()).get("stream")
    if behaviour == "no-usage":  # an answer that reports no usage (nor a usage chunk, streamed)
        if not stream:
            return web.json_response({k: v for k, v in REPLY.items() if k != "usage"})
        last = {**CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        return await _events(request, b"data: " + json.dumps(CHUNK).encode(), b"data: " + json.dumps(last).encode(),
                             b"data: [DONE]")  # fmt: skip
    if behaviour == "huge-number":  # usage no 64-bit integer holds
        usage = b'{"prompt_tokens": ' + b"9" * levels + b', "completion_tokens": 1, "total_tokens": 2}'
        body = json.dumps({**REPLY, "usage": None}).encode().replace(b'"usage": null', b'"usage": ' + usage)
        return web.Response(body=body, content_type="application/json")
    if behaviour.startswith("negative"):  # a count below 0 (``levels`` is how far below)
        return await _negative(request, behaviour, -levels, stream)
    if behaviour == "deep-status":  # an error status whose JSON body is nested deep
        return web.Response(body=with_field({"error": {"message": "x"}}, levels), status=500)
    if not stream:
        return web.Response(body=with_field(REPLY, levels), content_type="application/json")
    deep_chunk = b"data: " + with_field(CHUNK, levels)
    good = b"data: " + json.dumps(CHUNK).encode()
    if behaviour == "deep-first":
        return await _events(request, deep_chunk, b"data: [DONE]")
    if behaviour == "deep-later":
        return await _events(request, good, deep_chunk, b"data: [DONE]")
    if behaviour == "deep-error-event":
        return await _events(request, b"event: error\ndata: " + nested(levels).encode())
    if behaviour == "deep-usage-in-choice":  # Moonshot's shape: usage inside the final choice
        last = {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": REPLY["usage"]}]}
        return await _events(request, good, b"data: " + with_field(last, levels), b"data: [DONE]")
    raise web.HTTPNotFound()


def negative_usage(count: int, where: str) -> dict[str, object]:
    """Usage whose ``where`` (``prompt_tokens``, ``completion_tokens`` or ``cached_tokens``) is ``count``."""
    usage: dict[str, object] = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    if where == "cached_tokens":
        usage["prompt_tokens_details"] = {"cached_tokens": count}
    else:
        usage[where] = count
    return usage


async def _negative(request: web.Request, behaviour: str, count: int, stream: bool) -> web.StreamResponse:
    """``negative-<field>`` (a reply, or a stream whose only chunk carries the usage) or ``negative-last-<field>``
    (a stream: a good chunk, then a usage chunk) with the usage count ``<field>`` at ``count``."""
    where = behaviour.removeprefix("negative-").removeprefix("last-")
    usage = negative_usage(count, where)
    if not stream:
        return web.json_response({**REPLY, "usage": usage})
    if behaviour.startswith("negative-last-"):
        last = {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage}
        good = json.dumps(CHUNK).encode()
        return await _events(request, b"data: " + good, b"data: " + json.dumps(last).encode(), b"data: [DONE]")
    first = {**CHUNK, "usage": usage}
    return await _events(request, b"data: " + json.dumps(first).encode(), b"data: [DONE]")


async def embeddings(request: web.Request) -> web.Response:
    vector = {"overflow": "[1e300, 0.5]", "text": '["x", 0.5]'}[request.match_info["behaviour"]]
    body = '{"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": ' + vector + "}], "
    body += '"usage": {"prompt_tokens": 1, "total_tokens": 1}}'
    return web.Response(body=body.encode(), content_type="application/json")


async def files(request: web.Request) -> web.Response:
    """A batch API's file upload answered with JSON nested ``levels`` deep, or (``text``) with no JSON at all."""
    await request.read()
    if request.match_info["behaviour"] == "text":
        return web.Response(text="upload accepted", content_type="application/json")
    return web.Response(body=with_field({"id": "file-x", "object": "file"}, int(request.match_info["levels"])))


async def _calls(request: web.Request) -> web.Response:
    return web.json_response(dict(request.app[CALLS]))


async def serve() -> AsyncIterator[str]:
    """Run the upstream on a free port; yields its base URL."""
    app = web.Application(client_max_size=1 << 20)
    app[CALLS] = Counter()
    app.router.add_get("/_calls", _calls)
    app.router.add_post("/{behaviour}/{levels}/chat/completions", chat)
    app.router.add_post("/{behaviour}/{levels}/embeddings", embeddings)
    app.router.add_post("/{behaviour}/{levels}/files", files)
    runner, url = await start_site(app, shutdown_timeout=0.1)
    yield url
    await runner.cleanup()
