"""The circuit breaker end to end: opens on real failures, probes with real traffic, closes."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import CHAT, EmulatorHandle, GatewayFactory, auth


async def provider_of(gw: Any, http: aiohttp.ClientSession) -> str:
    async with http.post(gw.url + "/v1/chat/completions", json=CHAT, headers=auth()) as r:
        assert r.status == 200, await r.text()
        return r.headers["x-qiao-provider"]


async def test_breaker_open_half_open_close(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Consecutive 5xx open ds-a's breaker; after open_s a real request probes it and, succeeding, closes it."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["breaker"] = {"consecutive_failures": 3, "open_s": 20, "min_requests": 100}

    gw = await make_gateway(edit)
    await emulator.fault("deepseek.a", "server_error")
    assert [await provider_of(gw, http) for _ in range(3)] == ["ds-b"] * 3
    assert await emulator.requests("deepseek.a") == 3
    assert [await provider_of(gw, http) for _ in range(3)] == ["ds-b"] * 3
    assert await emulator.requests("deepseek.a") == 3  # open: not asked
    gw.clock.advance(21)
    assert await provider_of(gw, http) == "ds-b"  # the probe failed: open again, for longer
    assert await emulator.requests("deepseek.a") == 4
    gw.clock.advance(21)
    assert await provider_of(gw, http) == "ds-b"  # still open (40 s now)
    assert await emulator.requests("deepseek.a") == 4
    await emulator.clear()
    gw.clock.advance(20)
    assert await provider_of(gw, http) == "ds-a"  # probe succeeded: closed
    assert [await provider_of(gw, http) for _ in range(3)] == ["ds-a"] * 3
