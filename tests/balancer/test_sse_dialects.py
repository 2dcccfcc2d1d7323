"""Upstream SSE as real vendors and proxies write it: every dialect reaches the client complete, in OpenAI's shape."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from tests.conftest import CHAT, GatewayFactory, GatewayHandle, auth, start_site

TEXT = ["你好", "，世界", "！🙂 ", "done"]
USAGE = {"prompt_tokens": 7, "completion_tokens": 11, "total_tokens": 18}


def chunk(content: str | None = None, finish: str | None = None, usage: bool = False) -> bytes:
    delta = {} if content is None else {"content": content}
    body: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "deepseek-chat",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = USAGE
    return json.dumps(body, ensure_ascii=False).encode()


def events(prefix: bytes = b"data: ", eol: bytes = b"\n") -> list[bytes]:
    """The stream's payloads, each as one event (the whole text, a finish chunk with usage, [DONE])."""
    payloads = [chunk(t) for t in TEXT] + [chunk(finish="stop", usage=True), b"[DONE]"]
    return [prefix + p + eol + eol for p in payloads]


@pytest.fixture
async def sse_upstream() -> AsyncIterator[tuple[str, dict[str, list[bytes]]]]:
    """A real upstream answering POST /<id>/chat/completions with the byte pieces registered under that id, each
    written (and flushed) on its own, a moment apart, then the body's end."""
    pieces: dict[str, list[bytes]] = {}

    async def serve(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for piece in pieces.pop(request.match_info["id"]):
            await resp.write(piece)
            await asyncio.sleep(0.002)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/{id}/chat/completions", serve)
    runner, url = await start_site(app)
    yield url, pieces
    await runner.cleanup()


_ids = itertools.count()


async def relay(
    make_gateway: GatewayFactory,
    upstream: tuple[str, dict[str, list[bytes]]],
    body: list[bytes],
    kept: tuple[str, ...] = ("request_done",),
) -> tuple[list[bytes], list[dict[str, Any]]]:
    """``body``'s pieces sent by the only candidate of a route; the client's raw events and the log lines named in
    ``kept`` (the request_done line)."""
    url, pieces = upstream
    key = f"s{next(_ids)}"
    pieces[key] = body

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["base_url"] = f"{url}/{key}"
        cfg["timeouts"] = {"connect_s": 2, "ttft_s": 5, "idle_s": 5, "total_s": 20}

    gw: GatewayHandle = await make_gateway(edit)
    req = {**CHAT, "model": "solo", "stream": True, "stream_options": {"include_usage": True}}
    with structlog.testing.capture_logs() as logs:
        async with (
            aiohttp.ClientSession() as http,
            http.post(gw.url + "/v1/chat/completions", json=req, headers=auth()) as r,
        ):
            assert r.status == 200
            data = await asyncio.wait_for(r.read(), 30)
        for _ in range(100):
            if any(e["event"] == "request_done" for e in logs):
                break
            await asyncio.sleep(0.01)
    return [e for e in data.split(b"\n\n") if e], [e for e in logs if e["event"] in kept]


async def sdk_stream(
    make_gateway: GatewayFactory, upstream: Any, first: list[bytes], second: list[bytes] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """What an openai SDK client streams when ds-a sends ``first`` and ds-b ``second`` (None: a path that does
    not answer a stream), and the log lines meanwhile."""
    url, pieces = upstream
    a, b = f"s{next(_ids)}", f"s{next(_ids)}"
    pieces[a] = first
    if second is not None:
        pieces[b] = second

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["base_url"] = f"{url}/{a}"
        cfg["providers"]["ds-b"]["base_url"] = f"{url}/{b if second is not None else 'nowhere'}"
        cfg["timeouts"] = {"connect_s": 2, "ttft_s": 5, "idle_s": 5, "total_s": 20}

    gw: GatewayHandle = await make_gateway(edit)
    with structlog.testing.capture_logs() as logs:
        stream = await gw.client().chat.completions.create(**{**CHAT, "stream": True})
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    return text, logs


def content(evs: list[bytes]) -> str:
    out = ""
    for e in evs:
        assert e.startswith(b"data: "), e
        if e == b"data: [DONE]":
            continue
        obj = json.loads(e[6:])
        for c in obj.get("choices") or ():
            out += c["delta"].get("content") or ""
    return out


def split_everywhere(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


WHOLE = b"".join(events())
CASES = {
    "lf": events(),
    "crlf_no_space": events(b"data:", b"\r\n"),
    "one_write": [WHOLE],
    "byte_by_byte_crlf": split_everywhere(b"".join(events(eol=b"\r\n")), 1),
    "bom": [b"\xef\xbb\xbf" + WHOLE],
    "bom_split": [b"\xef\xbb", b"\xbf" + WHOLE],
    "heartbeats": [b": ping\n\n" + e for e in events()] + [b": ping\n\n"],
    "done_trailing_spaces": [*events()[:-1], b"data: [DONE]   \n\n"],
    "done_crlf_spaces": [*events(eol=b"\r\n")[:-1], b"data: [DONE]  \r\n\r\n"],
    "done_no_blank_line": [*events()[:-1], b"data: [DONE]"],
    "event_fields": [b"event: message\nid: %d\nretry: 3000\n" % i + e for i, e in enumerate(events())],
    "cr_only": [b"".join(events(eol=b"\r"))],
}


@pytest.mark.parametrize("name", list(CASES))
async def test_dialects(make_gateway: GatewayFactory, sse_upstream: Any, name: str) -> None:
    """Each dialect of the same stream reaches the client whole: the same text, usage accounted once, [DONE]."""
    evs, done = await relay(make_gateway, sse_upstream, CASES[name])
    assert evs[-1] == b"data: [DONE]", evs[-1]
    assert content(evs) == "".join(TEXT)
    assert len(done) == 1 and done[0]["tokens"] == {"prompt": 7, "completion": 11}, done


BIG = "长" * (1 << 19)  # 1.5 MB of UTF-8


async def test_big_event(make_gateway: GatewayFactory, sse_upstream: Any) -> None:
    """One 1.5 MB event, written in 1000-byte pieces (splitting characters), arrives whole."""
    data = b"data: " + chunk(BIG) + b"\n\n" + b"".join(events())
    evs, done = await relay(make_gateway, sse_upstream, split_everywhere(data, 1000))
    assert evs[-1] == b"data: [DONE]" and len(done) == 1 and done[0]["tokens"] == {"prompt": 7, "completion": 11}
    assert content(evs) == BIG + "".join(TEXT)


ERRORS = {
    "ark": b'data: {"error":{"code":"InternalServiceError","message":"boom","type":"server_error"}}\n\n',
    "event_error": b'event: error\ndata: {"error":{"code":"x","message":"boom","type":"server_error"}}\n\n',
    "dashscope": b'event:error\n:HTTP_STATUS/500\ndata:{"code":"InternalError","message":"boom","request_id":"r"}\n\n',
}


@pytest.mark.parametrize("name", list(ERRORS))
async def test_error_events(make_gateway: GatewayFactory, sse_upstream: Any, name: str) -> None:
    """An error event after content ends the client's stream with the gateway's error event, vendor text kept."""
    evs, done = await relay(make_gateway, sse_upstream, [*events()[:2], ERRORS[name]])
    assert content(evs[:-1]) == "".join(TEXT[:2])
    last = json.loads(evs[-1][6:])
    assert "error" in last and "boom" in last["error"]["message"], last
    assert len(done) == 1, done


# ---- events as the SSE spec allows them: data over several lines, error events of any shape -------------------


def pretty(prefix: bytes = b"data: ", eol: bytes = b"\n") -> list[bytes]:
    """The stream's payloads as pretty-printed JSON: each line of one event its own ``data:`` line."""
    out = []
    for p in [chunk(t) for t in TEXT] + [chunk(finish="stop", usage=True)]:
        text = json.dumps(json.loads(p), indent=2, ensure_ascii=False).encode()
        out.append(b"".join(prefix + line + eol for line in text.split(b"\n")) + eol)
    return [*out, prefix + b"[DONE]" + eol + eol]


SPEC_CASES = {
    "multiline": pretty(),
    "multiline_one_write": [b"".join(pretty())],
    "multiline_no_space_crlf_bytewise": split_everywhere(b"".join(pretty(b"data:", b"\r\n")), 1),
    "multiline_cr_only": [b"".join(pretty(eol=b"\r"))],
    "multiline_comments_inside": [
        e.replace(b'\ndata:   "created"', b'\n: ping\nid: 3\ndata:   "created"') for e in pretty()
    ],
    "empty_data_keepalive": [b"data:\n\n" + e for e in events()] + [b"data: \r\n"],
}


@pytest.mark.parametrize("name", list(SPEC_CASES))
async def test_spec_events(make_gateway: GatewayFactory, sse_upstream: Any, name: str) -> None:
    """Events written as the SSE spec allows (one JSON value over several data lines joined at the blank line,
    comments and ids among them, an empty data event as a keep-alive) reach the client whole, each event on one
    line of JSON: the same text, usage accounted once, [DONE]."""
    evs, done = await relay(make_gateway, sse_upstream, SPEC_CASES[name])
    assert evs[-1] == b"data: [DONE]", evs[-1]
    assert all(b"\n" not in e for e in evs), evs
    assert content(evs) == "".join(TEXT)
    assert len(done) == 1 and done[0]["tokens"] == {"prompt": 7, "completion": 11}, done


VENDOR_ERRORS = {
    "event_error_msg": b'event: error\ndata: {"msg":"boom: engine overloaded","status":500}\n\n',
    "event_error_text": b"event: error\ndata: boom: engine overloaded\n\n",
    "event_error_nested_msg": b'event:error\ndata:{"error":{"msg":"boom: engine overloaded","code":1301}}\n\n',
    "event_error_multiline": b'event: error\ndata: {\ndata:   "message": "boom: engine overloaded"\ndata: }\n\n',
    "event_error_crlf": b"event: error\r\ndata: boom: engine overloaded\r\n\r\n",
}


@pytest.mark.parametrize("name", list(VENDOR_ERRORS))
async def test_vendor_error_event_keeps_its_message(make_gateway: GatewayFactory, sse_upstream: Any, name: str) -> None:
    """An ``event: error`` after content, whatever the shape of its data (JSON of a dialect no rule knows, plain
    text, over several lines), ends the client's stream with an OpenAI-shaped error event that carries the
    vendor's own words; the attempt is logged as an upstream error."""
    body = [*events()[:2], VENDOR_ERRORS[name]]
    evs, logs = await relay(make_gateway, sse_upstream, body, ("request_done", "stream_failed"))
    done = [e for e in logs if e["event"] == "request_done"]
    assert evs[:-1] == [e.rstrip(b"\n") for e in events()[:2]]  # nothing of the error relayed as a chunk
    last = json.loads(evs[-1][6:])
    assert set(last) == {"error"} and last["error"]["type"] == "upstream_error", last
    assert "boom: engine overloaded" in last["error"]["message"], last
    assert done[0]["attempts"][0]["result"] == "upstream_error", done
    failed = [e for e in logs if e["event"] == "stream_failed"]
    assert len(failed) == 1 and "boom: engine overloaded" in failed[0]["message"], failed


async def test_vendor_error_event_is_redacted(make_gateway: GatewayFactory, sse_upstream: Any) -> None:
    """The vendor's words in an error event reach the client without the provider's key or a bearer token."""
    body = b'event: error\ndata: {"msg":"boom: key sk-a rejected (Authorization: Bearer tok12345678901)"}\n\n'
    evs, _ = await relay(make_gateway, sse_upstream, [*events()[:2], body])
    message = json.loads(evs[-1][6:])["error"]["message"]
    assert "boom: key [redacted] rejected" in message and "sk-a" not in message and "tok1234" not in message, message


async def test_vendor_error_event_is_classified(make_gateway: GatewayFactory, sse_upstream: Any) -> None:
    """An ``event: error`` in plain text is classified by the vendor's rules like any error: an over-long prompt
    is the client's request at fault (context_length, an invalid_request_error), not the vendor's."""
    body = b"event: error\ndata: This model's maximum context length is 8192 tokens\n\n"
    evs, done = await relay(make_gateway, sse_upstream, [*events()[:2], body])
    error = json.loads(evs[-1][6:])["error"]
    assert error["type"] == "invalid_request_error" and "maximum context length is 8192" in error["message"], error
    assert done[0]["attempts"][0]["result"] == "context_length", done


async def test_vendor_error_event_first_fails_over(make_gateway: GatewayFactory, sse_upstream: Any) -> None:
    """An ``event: error`` of a shape no rule knows, as a stream's first event, fails over to the next candidate
    (it is not relayed as the answer's first chunk): an openai SDK client streams the next candidate's answer."""
    bad = [b": queued\n\n", b'event: error\ndata: {"msg":"boom: engine overloaded"}\n\n']
    text, logs = await sdk_stream(make_gateway, sse_upstream, bad, events())
    assert text == "".join(TEXT)
    failed = [e for e in logs if e["event"] == "upstream_failed"]
    assert [(e["provider"], e["failure"]) for e in failed] == [("ds-a", "upstream_error")], failed
    assert "boom: engine overloaded" in failed[0]["message"]


async def test_event_without_end_is_bounded(make_gateway: GatewayFactory, sse_upstream: Any) -> None:
    """An event whose data lines go on without a blank line, never making a whole JSON value, is not held without
    limit: past 8 MiB the stream ends with an error event saying so (malformed), what came before relayed."""
    line = b'data:   "k": "' + b"x" * 60 + b'",\n'
    endless = [b"data: {\n", *[line * 1024] * ((8 << 20) // (len(line) * 1024) + 2)]
    evs, done = await relay(make_gateway, sse_upstream, [*events()[:2], *endless])
    assert content(evs[:-1]) == "".join(TEXT[:2])
    message = json.loads(evs[-1][6:])["error"]["message"]
    assert "malformed_response" in message and "longer than 8388608 bytes" in message, message
    assert done[0]["attempts"][0]["result"] == "malformed_response", done


# ---- keep-alive events: a named ping whose data is no chunk ------------------------------------------------------

KEEPALIVES = {
    "ping_text": b"event: ping\ndata: ping\n\n",
    "ping_empty_object": b"event: ping\ndata: {}\n\n",
    "heartbeat_json": b'event: heartbeat\ndata: {"ts": 1733380000}\n\n',
    "keepalive_crlf_no_space": b"event:keepalive\r\ndata:{}\r\n\r\n",
    "keep_alive_multiline": b'event: keep-alive\ndata: {\ndata:   "ts": 1\ndata: }\n\n',
    "ping_no_blank_line": b"event: ping\ndata: ping\n",
    "result_is_data": b"",  # no keep-alive: every chunk named ``event:result`` (DashScope) stays data
}


def with_keepalives(name: str) -> list[bytes]:
    if name == "result_is_data":
        return [b"event:result\n" + e for e in events()]
    return [KEEPALIVES[name] + e for e in events()] + [KEEPALIVES[name]]


@pytest.mark.parametrize("name", list(KEEPALIVES))
async def test_keepalive_events_are_not_chunks(make_gateway: GatewayFactory, sse_upstream: Any, name: str) -> None:
    """An event named ``ping``, ``heartbeat``, ``keepalive`` or ``keep-alive`` before every chunk (the first
    included) and after [DONE]'s place, whatever its data (text, ``{}``, JSON over several lines), is a
    keep-alive: the client gets byte for byte the events of the same stream without them, usage accounted once
    (before: its data was read as a chunk and the stream failed as malformed). Chunks under another name
    (DashScope's ``event:result``) are still data."""
    plain, _ = await relay(make_gateway, sse_upstream, events())
    evs, done = await relay(make_gateway, sse_upstream, with_keepalives(name))
    assert evs == plain
    assert content(evs) == "".join(TEXT)
    assert len(done) == 1 and done[0]["tokens"] == {"prompt": 7, "completion": 11}, done


async def test_keepalive_first_reaches_an_openai_client_whole(make_gateway: GatewayFactory, sse_upstream: Any) -> None:
    """A stream that opens with ``event: ping`` / ``data: ping`` (and pings between chunks) streams its whole
    answer to an openai SDK client, with no failover: the ping is not the stream's (malformed) first event."""
    text, logs = await sdk_stream(make_gateway, sse_upstream, with_keepalives("ping_text"))
    assert text == "".join(TEXT)
    assert [e for e in logs if e["event"] == "upstream_failed"] == []
