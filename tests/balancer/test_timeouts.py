"""Every timer fires whatever the peer sends: upstreams that stall, send only keep-alives, never end; clients
that send a head or a body a byte at a time; a vendor that asks to be left alone for a year."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
import structlog

from tests.balancer import misbehaving
from tests.conftest import ADMIN_KEY, CHAT, CLIENT_KEY, EmulatorHandle, GatewayFactory, auth


@pytest.fixture
async def bad_upstream() -> AsyncIterator[str]:
    async for url in misbehaving.serve():
        yield url


def _first_then(behaviour: str, upstream: str, **timeouts: float) -> Any:
    """A config edit: route ``chat``'s first candidate is the misbehaving upstream, the rest stay healthy."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["base_url"] = f"{upstream}/{behaviour}"
        cfg["timeouts"] = {"connect_s": 2, "ttft_s": 30, "idle_s": 30, "total_s": 300, **timeouts}
        cfg["failover"] = {"deadline_s": 120}

    return edit


async def test_non_stream_head_bounded_by_ttft(make_gateway: GatewayFactory, bad_upstream: str) -> None:
    """An upstream that takes a request and never answers is failed over after ttft_s (time to the reply's
    head), with total_s and the deadline far away; the healthy next candidate answers."""
    gw = await make_gateway(_first_then("hang", bad_upstream, ttft_s=1))
    t0 = time.monotonic()
    r = await gw.client().chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
    assert r.headers["x-qiao-provider"] == "ds-b" and time.monotonic() - t0 < 5


async def test_keepalive_comments_are_not_a_first_token(make_gateway: GatewayFactory, bad_upstream: str) -> None:
    """A stream whose upstream sends headers and then only comments fails over at ttft_s: comments are not
    progress."""
    gw = await make_gateway(_first_then("comments", bad_upstream, ttft_s=1))
    t0 = time.monotonic()
    r = await gw.client().chat.completions.with_raw_response.create(**CHAT, stream=True)  # type: ignore[call-overload]
    chunks = [c async for c in r.parse()]
    assert r.headers["x-qiao-provider"] == "ds-b" and chunks and time.monotonic() - t0 < 5


async def test_keepalive_comments_do_not_feed_the_idle_timer(make_gateway: GatewayFactory, bad_upstream: str) -> None:
    """After one real chunk, an upstream that sends only comments is cut at idle_s: the client gets an error
    event (the SDK raises), not a connection held open."""
    gw = await make_gateway(_first_then("one-then-comments", bad_upstream, idle_s=1))
    t0 = time.monotonic()
    stream = await gw.client().chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
    with pytest.raises(openai.APIError, match="stalled"):
        async for _ in stream:
            pass
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("behaviour", ["endless", "one-then-comments"])
async def test_total_time_fires_on_a_stream_that_never_ends(
    make_gateway: GatewayFactory, bad_upstream: str, behaviour: str
) -> None:
    """A stream that keeps sending (valid chunks, or keep-alive comments after one chunk) and never finishes
    is ended at total_s with an error event, with the idle timer far away."""
    gw = await make_gateway(_first_then(behaviour, bad_upstream, total_s=1.5))
    t0 = time.monotonic()
    stream = await gw.client().chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
    with pytest.raises(openai.APIError, match="total time"):
        async for _ in stream:
            pass
    assert time.monotonic() - t0 < 5


async def test_a_trickling_reply_body_fails_over_at_total(make_gateway: GatewayFactory, bad_upstream: str) -> None:
    """A non-stream reply whose body arrives a byte at a time, forever, is given up at total_s and failed over."""
    gw = await make_gateway(_first_then("trickle", bad_upstream, total_s=1.5))
    t0 = time.monotonic()
    r = await gw.client().chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
    assert r.headers["x-qiao-provider"] == "ds-b" and time.monotonic() - t0 < 5


async def test_a_line_without_end_is_malformed(make_gateway: GatewayFactory, bad_upstream: str) -> None:
    """An SSE line that never ends is not buffered without bound: it is a malformed reply, failed over."""
    gw = await make_gateway(_first_then("unending-line", bad_upstream))
    with structlog.testing.capture_logs() as logs:
        r = await gw.client().chat.completions.with_raw_response.create(**CHAT, stream=True)  # type: ignore[call-overload]
        _ = [c async for c in r.parse()]
    assert r.headers["x-qiao-provider"] == "ds-b"
    failed = [e for e in logs if e["event"] == "upstream_failed"]
    assert failed and failed[0]["failure"] == "malformed_response"


async def test_a_finished_stream_ends_at_once_when_its_upstream_lingers(
    make_gateway: GatewayFactory, bad_upstream: str, http: aiohttp.ClientSession
) -> None:
    """A stream that ended with [DONE] ends for the client at once (curl, fetch and httpx read to the end of
    the body), even when the upstream holds its body open after [DONE]; the gateway drains it afterwards."""
    gw = await make_gateway(_first_then("done-then-hold", bad_upstream))
    t0 = time.monotonic()
    async with http.post(gw.url + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth()) as r:
        assert r.headers["x-qiao-provider"] == "ds-a"
        body = await r.read()
    assert body.endswith(b"data: [DONE]\n\n") and time.monotonic() - t0 < 0.5


async def test_retry_after_is_capped(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A 429 asking to be left alone for a year cools the candidate down for failover.max_retry_after_s, and
    the cap is logged."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["failover"]["max_retry_after_s"] = 120

    gw = await make_gateway(edit)
    await emulator.fault("deepseek.a", "rate_limit", count=1, retry_after=31536000)
    with structlog.testing.capture_logs() as logs:
        await gw.client().chat.completions.create(**CHAT)  # type: ignore[call-overload]
    health = gw.gw.store.health("ds-a", "deepseek-chat", gw.clock())
    assert not health.available and health.until == pytest.approx(gw.clock() + 120, abs=1)
    capped = [e for e in logs if e["event"] == "retry_after_capped"]
    assert capped and capped[0]["asked_s"] == 31536000


def _server_opts(cfg: dict[str, Any]) -> None:
    cfg["server"] = {"header_timeout_s": 1.0, "body_timeout_s": 1.0}


async def test_slowloris_head_is_cut(make_gateway: GatewayFactory) -> None:
    """A client that sends its request head a byte at a time is disconnected after header_timeout_s."""
    gw = await make_gateway(_server_opts)
    host, port = gw.url.removeprefix("http://").split(":")
    sock = await asyncio.to_thread(socket.create_connection, (host, int(port)))
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    t0 = time.monotonic()
    closed = False
    for byte in head:
        try:
            await asyncio.to_thread(sock.sendall, bytes([byte]))
        except OSError:
            closed = True
            break
        await asyncio.sleep(0.05)
        if time.monotonic() - t0 > 8:
            break
    sock.close()
    assert closed and time.monotonic() - t0 < 5


async def test_a_stream_client_let_go_for_not_reading_sees_an_error(
    make_gateway: GatewayFactory, bad_upstream: str
) -> None:
    """A stream's client that reads nothing for longer than server.write_timeout_s is let go, and when it reads
    again its stream fails (the SDK raises): the connection is broken, never ended cleanly without its answer."""

    def edit(cfg: dict[str, Any]) -> None:
        _first_then("flood", bad_upstream)(cfg)
        cfg["server"] = {"write_timeout_s": 1.0}

    gw = await make_gateway(edit)
    stream = await gw.client().chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
    await asyncio.sleep(3)  # reads nothing for three write timeouts
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass


async def test_a_client_that_does_not_read_its_reply_is_let_go(make_gateway: GatewayFactory, bad_upstream: str) -> None:
    """A plain (non-stream) reply larger than the socket buffers, to a client that never reads it, is given up
    after server.write_timeout_s: the connection is closed, not held (with the reply in memory) for ever."""

    def edit(cfg: dict[str, Any]) -> None:
        _first_then("big", bad_upstream)(cfg)
        cfg["server"] = {"write_timeout_s": 1.0}

    gw = await make_gateway(edit)
    host, port = gw.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps(CHAT).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\n"
    writer.write(head.encode() + b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await asyncio.sleep(4)  # the reply is sent; the client reads nothing for four write timeouts
    received = 0
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 20), 5):
            received += len(chunk)
    except ConnectionResetError:
        pass
    writer.close()
    assert 0 < received < misbehaving.BIG_TEXT  # the connection was closed before the whole reply went out


@pytest.mark.parametrize(
    "body",
    [
        b"Transfer-Encoding: chunked\r\n\r\n10\r\n" + b'{"model":"chat",',  # a chunked body without its end
        b"Content-Length: 5000\r\n\r\n" + b'{"model":"chat"',  # fewer bytes than announced
    ],
)
async def test_a_body_that_never_ends_gets_408(make_gateway: GatewayFactory, body: bytes) -> None:
    """A body that stops arriving (chunked without its last chunk, or shorter than its Content-Length) is
    answered with an OpenAI-style 408 after body_timeout_s, not held open."""
    gw = await make_gateway(_server_opts)
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\n"
    await _answered_408(gw.url, head.encode() + b"Content-Type: application/json\r\n" + body)


async def _answered_408(url: str, request: bytes) -> None:
    """Send ``request`` (a head and part of a body) and hold the connection: the gateway's body timer must answer
    it with an OpenAI-style 408 request_timeout (waited for at most 10 s; body_timeout_s is 1 s here)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    status_line = await asyncio.wait_for(reader.readline(), 10)
    rest = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 408"), status_line
    payload = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert payload["error"]["code"] == "request_timeout"


ENDLESS_ELSEWHERE = [
    ("/v1/batches", CLIENT_KEY, "application/json", b'{"input_file_id": '),
    ("/admin/keys", ADMIN_KEY, "application/json", b'{"name": '),
    ("/v1/files", CLIENT_KEY, "multipart/form-data; boundary=zz",
     b'--zz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'),
]  # fmt: skip


@pytest.mark.parametrize(("path", "key", "ctype", "start"), ENDLESS_ELSEWHERE, ids=[c[0] for c in ENDLESS_ELSEWHERE])
async def test_a_body_that_never_ends_gets_408_on_every_endpoint(
    make_gateway: GatewayFactory, path: str, key: str, ctype: str, start: bytes
) -> None:
    """The batch endpoints and the admin API read their bodies within body_timeout_s too (an upload, also within
    a second per MiB announced): a body shorter than its Content-Length is a 408 request_timeout, not a
    connection held open for good."""
    gw = await make_gateway(_server_opts)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: {ctype}\r\n"
    await _answered_408(gw.url, head.encode() + b"Content-Length: 5000\r\n\r\n" + start)


async def test_healthy_requests_unaffected(make_gateway: GatewayFactory, http: aiohttp.ClientSession) -> None:
    """With tight server timeouts, an ordinary request on a kept-alive connection is served as before."""
    gw = await make_gateway(_server_opts)
    for _ in range(2):
        async with http.post(gw.url + "/v1/chat/completions", json=CHAT, headers=auth()) as r:
            assert r.status == 200
