"""Streams: transparent failover before the first byte, honest endings after it."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import CHAT, EmulatorHandle, GatewayFactory, GatewayHandle, auth

STREAM = {**CHAT, "stream": True}


async def collect(gw: GatewayHandle, body: dict[str, Any] = STREAM) -> tuple[str, str | None]:
    """The streamed text and which provider served it."""
    resp = await gw.client().chat.completions.with_raw_response.create(**body)  # type: ignore[call-overload]
    text = ""
    async for chunk in resp.parse():
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
    return text, resp.headers.get("x-qiao-provider")


async def raw_events(gw: GatewayHandle, http: aiohttp.ClientSession, body: dict[str, Any] = STREAM) -> list[bytes]:
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        assert r.status == 200
        data = await r.read()
    return [e for e in data.split(b"\n\n") if e]


@pytest.mark.parametrize("fault", ["rate_limit", "server_error", "balance_exhausted", "auth", "timeout"])
async def test_failover_before_first_byte(gateway: GatewayHandle, emulator: EmulatorHandle, fault: str) -> None:
    """Any failure before the first streamed byte is invisible: another candidate streams the answer."""
    await emulator.fault("deepseek.a", fault)
    text, provider = await collect(gateway)
    assert text and provider == "ds-b"


async def test_slow_first_token_fails_over(gateway: GatewayHandle, emulator: EmulatorHandle) -> None:
    """A first token slower than ttft_s (1 s here) moves the stream to the next candidate."""
    await emulator.fault("deepseek.a", "slow_first_byte", latency_ms=3000)
    text, provider = await collect(gateway)
    assert text and provider == "ds-b"


async def test_truncated_stream_ends_with_error_event(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """An upstream that dies mid-stream ends the client's stream with an error event, never a clean [DONE]."""
    await emulator.fault("deepseek.a", "truncate_stream")
    events = await raw_events(gateway, http)
    assert events[-1].startswith(b'data: {"error"') and b"[DONE]" not in events[-1]
    assert b"stream_truncated" in events[-1] or b"disconnected" in events[-1]


async def test_sdk_raises_on_mid_stream_failure(gateway: GatewayHandle, emulator: EmulatorHandle) -> None:
    """The openai SDK raises APIError on the gateway's error event (the application notices)."""
    await emulator.fault("deepseek.a", "truncate_stream")
    with pytest.raises(openai.APIError):
        await collect(gateway)


async def test_stalled_stream_ends_at_idle_timeout(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A stream that stalls is ended at the idle timeout with an error event, not left hanging."""
    await emulator.fault("deepseek.a", "stall_stream")
    events = await raw_events(gateway, http)
    assert b"stream_timeout" in events[-1] and b"stalled" in events[-1]


async def test_malformed_chunk_ends_with_error_event(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A malformed chunk mid-stream ends the stream with an error event."""
    await emulator.fault("deepseek.a", "malformed")
    events = await raw_events(gateway, http)
    assert b'"error"' in events[-1] and b"malformed_response" in events[-1]


async def test_mid_stream_failure_counts_against_provider(gateway: GatewayHandle, emulator: EmulatorHandle) -> None:
    """After one cut stream the provider cools down, so the next request goes elsewhere: one request pays."""
    await emulator.fault("deepseek.a", "truncate_stream")
    with pytest.raises(openai.APIError):
        await collect(gateway)
    await emulator.fault("deepseek.a", "truncate_stream", count=1)  # it would cut again if asked
    text, provider = await collect(gateway)
    assert text and provider == "ds-b"


async def test_stream_chunks_are_not_buffered(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Chunks reach the client as the vendor sends them (the first arrives long before the last)."""
    import time

    await emulator.fault("deepseek.a", "ok")
    emulator.emu.chunk_delay_ms = 80
    gw = await make_gateway()
    arrivals: list[float] = []
    async with http.post(gw.url + "/v1/chat/completions", json=STREAM, headers=auth()) as r:
        async for _ in r.content.iter_any():
            arrivals.append(time.perf_counter())
    assert len(arrivals) > 3 and arrivals[-1] - arrivals[0] > 0.4


async def test_vendor_without_done_and_usage_in_choice(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Kimi's usage inside choices[0] is read for the ledger and the stream ends cleanly."""
    events = await raw_events(gateway, http, {**STREAM, "model": "kimi"})
    assert events[-1] == b"data: [DONE]"
    assert any(b'"usage"' in e for e in events)


async def test_client_disconnect_mid_stream_releases(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A client that leaves mid-stream frees the reservation and does not count against the provider."""
    emulator.emu.chunk_delay_ms = 50

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["limits"] = {"concurrency": 1}

    gw = await make_gateway(edit)
    async with http.post(gw.url + "/v1/chat/completions", json=STREAM, headers=auth()) as r:
        await r.content.readany()
    import asyncio

    for _ in range(50):
        await asyncio.sleep(0.02)
        if gw.gw.store._usage["ds-a"].in_flight == 0:  # type: ignore[attr-defined]
            break
    assert gw.gw.store._usage["ds-a"].in_flight == 0  # type: ignore[attr-defined]
    assert gw.gw.store.health("ds-a", "deepseek-chat", gw.clock()).available
