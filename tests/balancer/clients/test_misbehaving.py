"""Clients that leave mid-stream or stop reading: each request still ends, and is counted exactly once."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import structlog

from tests.conftest import CHAT, CLIENT_KEY, EmulatorHandle, GatewayFactory


def _request(body: dict[str, Any], host: str, port: int) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {CLIENT_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _settled(gw: Any, provider: str) -> int:
    """Requests the store has settled for an account (its in-flight count back to zero), polled with a bound."""
    for _ in range(200):
        u = gw.gw.store._usage.get(provider)
        if u is not None and u.in_flight == 0 and u.requests:
            return int(u.requests)
        await asyncio.sleep(0.02)
    raise AssertionError("the request was never settled")


async def test_client_that_leaves_mid_stream_is_counted_once(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """A client that closes its connection after the first chunks: the gateway stops relaying (the upstream
    connection is closed, not read to its end), and logs one request_done (client_disconnected), books one
    estimated charge and settles once."""
    emulator.emu.chunk_delay_ms, emulator.emu.reply_tokens = 50, 100  # a 5 s answer

    def edit(cfg: dict[str, Any]) -> None:
        cfg["timeouts"] = {"connect_s": 2, "ttft_s": 5, "idle_s": 5, "total_s": 30}

    gw = await make_gateway(edit)
    host, port = gw.url.removeprefix("http://").split(":")
    with structlog.testing.capture_logs() as logs:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(_request({**CHAT, "stream": True}, host, int(port)))
        await reader.readuntil(b"data: ")  # the stream is the client's
        writer.close()  # ...and the client leaves
        assert await _settled(gw, "ds-a") == 1
        for _ in range(100):
            if any(e["event"] == "request_done" for e in logs):
                break
            await asyncio.sleep(0.02)
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1 and done[0]["stream_end"] == "client_disconnected"
    assert done[0]["tokens"]["estimated"] is True
    snap = await gw.gw.ledger.snapshot(gw.clock())
    assert sum(r.requests for r in snap.rows) == 1 and sum(r.estimated for r in snap.rows) == 1
    await asyncio.sleep(0.3)
    assert (await emulator.stats())["deepseek.a"]["served"] == 0  # the upstream stream was abandoned, not finished


async def test_client_that_stops_reading_is_let_go(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A client that keeps its connection open but never reads: once its socket buffers are full, a write that
    waits server.write_timeout_s ends the stream; the request is counted once and the connection is not held."""
    emulator.emu.reply_tokens = 120_000  # megabytes of SSE: more than the kernel's buffers hold

    def edit(cfg: dict[str, Any]) -> None:
        cfg["server"] = {"write_timeout_s": 1.0}
        cfg["timeouts"] = {"connect_s": 2, "ttft_s": 10, "idle_s": 10, "total_s": 120}

    gw = await make_gateway(edit)
    host, port = gw.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(_request({**CHAT, "stream": True}, host, int(port)))
    t0 = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        for _ in range(1500):  # bounded: 30 s
            if any(e["event"] == "request_done" for e in logs):
                break
            await asyncio.sleep(0.02)
    sock.close()
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1 and done[0]["stream_end"] == "client_disconnected", done
    assert time.monotonic() - t0 < 30
    assert await _settled(gw, "ds-a") == 1
