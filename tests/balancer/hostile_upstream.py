"""A small aiohttp upstream whose replies are JSON no decoder should be trusted with: nested thousands of levels
deep, token counts below 0 or of more digits than an int64 holds, no usage at all, embedding vectors no float32
holds. Every path is ``/<behaviour>/<levels>/chat/completions`` (or ``/embeddings``, or a batch API's ``/files``),
so a provider's ``base_url`` picks both; a chat request with ``"stream": true`` is answered as SSE. ``GET /_calls``
counts the chat requests each ``<behaviour>/<levels>`` received.
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
    if behaviour.startswith(("negative-", "digits-")):  # a usage count below 0, or of more digits than int64 holds
        return await _counted(request, behaviour, levels, stream)
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


def usage_with(where: str, count: bytes) -> bytes:
    """Usage (3 prompt, 1 completion, 4 total tokens) whose ``where`` (``prompt_tokens``, ``completion_tokens`` or
    ``cached_tokens``) is the JSON number ``count``, written as it is (json.dumps writes no 5000-digit number)."""
    usage: dict[str, object] = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    if where == "cached_tokens":
        usage["prompt_tokens_details"] = {"cached_tokens": "COUNT"}
    else:
        usage[where] = "COUNT"
    return json.dumps(usage).encode().replace(b'"COUNT"', count)


def _with(obj: dict[str, object], usage: bytes) -> bytes:
    """``obj`` as JSON, the string ``"USAGE"`` in it replaced by ``usage``."""
    return json.dumps(obj).encode().replace(b'"USAGE"', usage)


def counted_reply(where: str, count: bytes) -> bytes:
    """The reply (not streamed) whose usage count ``where`` is ``count``, as this upstream sends it."""
    return _with({**REPLY, "usage": "USAGE"}, usage_with(where, count))


async def _counted(request: web.Request, behaviour: str, levels: int, stream: bool) -> web.StreamResponse:
    """``<kind>-<field>``: a reply, or a stream whose one chunk carries the usage; ``<kind>-last-<field>``: a stream
    whose usage comes in its own chunk after the answer (OpenAI's); ``<kind>-choice-<field>``: a stream whose usage
    is inside its last chunk's choice (Moonshot's); ``<kind>-broken-<field>``: a reply whose ``error`` (after the
    usage) is 5, of no type any dialect's error has. The usage count ``<field>`` is -``levels`` (kind ``negative``)
    or ``levels`` nines (kind ``digits``)."""
    kind, _, rest = behaviour.partition("-")
    place, _, where = rest.rpartition("-")
    count = str(-levels).encode() if kind == "negative" else b"9" * levels
    usage = usage_with(where, count)
    good = b"data: " + json.dumps(CHUNK).encode()
    if place == "broken":
        return web.Response(body=_with({**REPLY, "usage": "USAGE", "error": 5}, usage), content_type="application/json")
    if not stream:
        return web.Response(body=counted_reply(where, count), content_type="application/json")
    if place == "last":
        last = {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": "USAGE"}
        return await _events(request, good, b"data: " + _with(last, usage), b"data: [DONE]")
    if place == "choice":
        choice = {"index": 0, "delta": {}, "finish_reason": "stop", "usage": "USAGE"}
        last = {"id": "c", "object": "chat.completion.chunk", "choices": [choice]}
        return await _events(request, good, b"data: " + _with(last, usage), b"data: [DONE]")
    return await _events(request, b"data: " + _with({**CHUNK, "usage": "USAGE"}, usage), b"data: [DONE]")


async def embeddings(request: web.Request) -> web.Response:
    """``overflow``/``text``: a vector no float32 holds; ``digits``: the vector [0.5, 0.25] and a prompt_tokens count
    of ``levels`` digits."""
    behaviour, levels = request.match_info["behaviour"], int(request.match_info["levels"])
    vector = {"overflow": "[1e300, 0.5]", "text": '["x", 0.5]', "digits": "[0.5, 0.25]"}[behaviour]
    count = "9" * levels if behaviour == "digits" else "1"
    body = '{"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": ' + vector + "}], "
    body += '"usage": {"prompt_tokens": ' + count + ', "total_tokens": 1}}'
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
