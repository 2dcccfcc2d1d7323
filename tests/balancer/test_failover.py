"""Every failure class and its consequence, against the emulator's vendor dialects."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import CHAT, EmulatorHandle, GatewayFactory, GatewayHandle, auth


async def post(
    gw: GatewayHandle, http: aiohttp.ClientSession, body: dict[str, Any] = CHAT
) -> tuple[int, dict[str, Any], Any]:
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        return r.status, dict(r.headers), await r.json()


async def test_rate_limit_fails_over_and_cools_down(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A 429 rate limit is invisible to the client; the limited candidate is skipped until its cooldown ends."""
    await emulator.fault("deepseek.a", "rate_limit", retry_after=30)
    status, headers, _ = await post(gateway, http)
    assert status == 200 and headers["x-qiao-provider"] == "ds-b" and headers["x-qiao-attempts"] == "2"
    for _ in range(3):
        status, headers, _ = await post(gateway, http)
        assert headers["x-qiao-provider"] == "ds-b" and headers["x-qiao-attempts"] == "1"
    assert await emulator.requests("deepseek.a") == 1  # cooled down: not asked again
    await emulator.clear()
    gateway.clock.advance(29)
    assert (await post(gateway, http))[1]["x-qiao-provider"] == "ds-b"
    gateway.clock.advance(2)  # Retry-After (30 s) has passed
    assert (await post(gateway, http))[1]["x-qiao-provider"] == "ds-a"


async def test_recooldown_never_shortens(gateway: GatewayHandle) -> None:
    """A later, shorter cooldown does not shorten one already in force."""
    store, now = gateway.gw.store, gateway.clock()
    assert await store.cool_down("ds-a/deepseek-chat", now + 60, "rate_limited", now) == now + 60
    assert await store.cool_down("ds-a/deepseek-chat", now + 5, "rate_limited", now) == now + 60
    assert await store.cool_down("ds-a/deepseek-chat", now + 90, "rate_limited", now) == now + 90


async def test_balance_exhausted_disables_provider_until_refresh(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A 402 'Insufficient Balance' takes the whole account out (all its models) and is cleared by a balance refresh."""
    await emulator.fault("deepseek.a", "balance_exhausted")
    status, headers, _ = await post(gateway, http)
    assert status == 200 and headers["x-qiao-provider"] == "ds-b"
    health = gateway.gw.store.health("ds-a", "deepseek-reasoner", gateway.clock())
    assert not health.available and health.reason == "cooldown:quota_exhausted"
    gateway.clock.advance(600)  # still out: not a short rate-limit cooldown
    assert not gateway.gw.store.health("ds-a", "deepseek-chat", gateway.clock()).available
    await gateway.gw.store.clear("ds-a", "quota_exhausted")  # what a balance poll showing funds does
    await emulator.clear()
    assert (await post(gateway, http))[1]["x-qiao-provider"] == "ds-a"


async def test_auth_failure_disables_provider_and_fails_over(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A vendor 401 fails over and keeps that account out (its key is wrong until the config changes)."""
    await emulator.fault("deepseek.a", "auth")
    status, headers, _ = await post(gateway, http)
    assert status == 200 and headers["x-qiao-provider"] == "ds-b"
    h = gateway.gw.store.health("ds-a", "deepseek-chat", gateway.clock())
    assert h.reason == "cooldown:auth_failed"


async def test_bad_request_returns_at_once(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A vendor 400 (the client's fault) is returned immediately, without trying other candidates."""
    await emulator.fault("deepseek.a", "bad_request")
    status, headers, body = await post(gateway, http)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert "Invalid parameter" in body["error"]["message"] and headers["x-qiao-attempts"] == "1"
    assert await emulator.requests("deepseek.b") == 0
    # The candidate is not punished for the client's mistake.
    assert gateway.gw.store.health("ds-a", "deepseek-chat", gateway.clock()).available


async def test_content_filter_policy_is_per_route(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """content_filtered returns to the client by default, and fails over on a route configured to."""
    await emulator.fault("qwen", "content_filter")
    candidates = [{"provider": "qwen", "model": "qwen-plus"}, {"provider": "ds-a", "model": "deepseek-chat"}]

    def edit(cfg: dict[str, Any]) -> None:
        cfg["routes"]["strict"] = {"candidates": candidates}
        cfg["routes"]["lenient"] = {
            "candidates": candidates,
            "failover": {"classes": {"content_filtered": {"failover": True}}},
        }

    gw = await make_gateway(edit)
    status, _, body = await post(gw, http, {**CHAT, "model": "strict"})
    assert status == 400 and body["error"]["code"] == "data_inspection_failed"
    status, headers, _ = await post(gw, http, {**CHAT, "model": "lenient"})
    assert status == 200 and headers["x-qiao-provider"] == "ds-a"
    assert await emulator.requests("deepseek.a") == 1


async def test_context_length_moves_only_to_larger_window(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A context overflow skips candidates whose window is not larger and tries a larger one."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["routes"]["ctx"] = {
            "candidates": [
                {"provider": "ds-a", "model": "deepseek-chat", "context_window": 64000},
                {"provider": "ds-b", "model": "deepseek-chat", "context_window": 32000},
                {"provider": "qwen", "model": "qwen-plus", "context_window": 128000},
            ]
        }

    gw = await make_gateway(edit)
    await emulator.fault("deepseek.a", "context_length")
    status, headers, _ = await post(gw, http, {**CHAT, "model": "ctx"})
    assert status == 200 and headers["x-qiao-provider"] == "qwen"
    assert await emulator.requests("deepseek.b") == 0


async def test_context_length_without_larger_candidate_is_400(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """When no candidate has a larger window, the client gets a 400 context_length error."""
    await emulator.fault("deepseek.a", "context_length")
    status, _, body = await post(gateway, http, {**CHAT, "model": "solo"})
    assert status == 400 and body["error"]["code"] == "context_length"


@pytest.mark.parametrize("fault", ["server_error", "malformed"])
async def test_upstream_errors_fail_over(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession, fault: str
) -> None:
    """5xx and malformed replies fail over to the next candidate."""
    await emulator.fault("deepseek.a", fault)
    status, headers, _ = await post(gateway, http)
    assert status == 200 and headers["x-qiao-provider"] == "ds-b"


async def test_timeout_fails_over(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """An upstream that never answers is abandoned after the attempt timeout and the next one serves."""
    await emulator.fault("deepseek.a", "timeout")
    status, headers, _ = await post(gateway, http, {**CHAT, "model": "chat"})
    assert status == 200 and headers["x-qiao-provider"] == "ds-b"


async def test_connection_refused_fails_over(make_gateway: GatewayFactory, http: aiohttp.ClientSession) -> None:
    """A provider whose host refuses connections is a connection_error, and the next candidate serves."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["base_url"] = "http://127.0.0.1:9/deepseek"

    gw = await make_gateway(edit)
    status, headers, _ = await post(gw, http)
    assert status == 200 and headers["x-qiao-provider"] == "ds-b"


async def test_attempt_budget(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """No more than max_attempts upstream calls are made; the client gets the last failure's class."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["failover"] = {"max_attempts": 2, "deadline_s": 10}

    gw = await make_gateway(edit)
    for t in ("deepseek.a", "deepseek.b", "qwen"):
        await emulator.fault(t, "server_error")
    status, headers, body = await post(gw, http)
    assert status == 502 and body["error"]["code"] == "upstream_error"
    assert headers["x-qiao-attempts"] == "2"
    assert await emulator.requests("qwen") == 0


async def test_all_rate_limited_is_429(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """When every candidate is rate limited the client sees a 429 whose Retry-After is when the first of them may be
    tried again (the vendors asked for 20 s: an SDK's max_retries then waits that long, not its own 0.5 s), then a
    503 no_capacity with Retry-After."""
    for t in ("deepseek.a", "deepseek.b", "qwen"):
        await emulator.fault(t, "rate_limit", retry_after=20)
    status, headers, body = await post(gateway, http)
    assert status == 429 and body["error"]["type"] == "rate_limit_error"
    assert 19 <= int(headers["Retry-After"]) <= 20, headers
    status, headers, body = await post(gateway, http)
    assert status == 503 and body["error"]["code"] == "no_capacity" and int(headers["Retry-After"]) >= 1


async def test_deadline_bounds_the_request(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """The overall deadline ends the request even when every attempt hangs."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["failover"] = {"max_attempts": 3, "deadline_s": 0.6}
        cfg["timeouts"]["total_s"] = 5

    gw = await make_gateway(edit)
    for t in ("deepseek.a", "deepseek.b", "qwen"):
        await emulator.fault(t, "timeout")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    status, _, body = await post(gw, http)
    assert status == 504 and body["error"]["code"] == "timeout"
    assert loop.time() - t0 < 2.0


async def test_no_retry_after_client_disconnect(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A client that hangs up mid-attempt causes no further upstream attempts."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["timeouts"]["total_s"] = 1.0

    gw = await make_gateway(edit)
    await emulator.fault("deepseek.a", "timeout")
    client = gw.client(timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    await asyncio.sleep(1.5)  # longer than the first attempt's timeout: a retry would have happened by now
    assert await emulator.requests("deepseek.b") == 0
    assert await emulator.requests("qwen") == 0


async def test_priority_weighted_and_latency_strategies(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Weighted spreads by weight; lowest-latency sends (nearly) everything to the measured-faster candidate."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["routes"]["w"] = {
            "strategy": "weighted",
            "candidates": [
                {"provider": "ds-a", "model": "deepseek-chat", "weight": 9},
                {"provider": "ds-b", "model": "deepseek-chat", "weight": 1},
            ],
        }
        cfg["routes"]["fast"] = {
            "strategy": "lowest-latency",
            "candidates": [{"provider": "ds-a", "model": "deepseek-chat"}, {"provider": "qwen", "model": "qwen-plus"}],
        }

    gw = await make_gateway(edit)
    counts = {"ds-a": 0, "ds-b": 0}
    for _ in range(100):
        counts[(await post(gw, http, {**CHAT, "model": "w"}))[1]["x-qiao-provider"]] += 1
    assert 75 <= counts["ds-a"] <= 98 and counts["ds-b"] >= 2
    await emulator.fault("deepseek.a", "ok", latency_ms=300)
    # Warm-up: a stalled first sample of qwen (a busy CI machine) is outweighed within ~8 slow ds-a answers.
    for _ in range(12):
        await post(gw, http, {**CHAT, "model": "fast"})
    providers = [(await post(gw, http, {**CHAT, "model": "fast"}))[1]["x-qiao-provider"] for _ in range(20)]
    assert providers.count("qwen") >= 17  # the rest: one request in 50 re-measures the slower candidate


async def test_strategy_override_header(make_gateway: GatewayFactory, http: aiohttp.ClientSession) -> None:
    """x-qiao-strategy overrides the route's strategy for one request."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["routes"]["chat"]["strategy"] = "weighted"
        cfg["routes"]["chat"]["candidates"][0]["weight"] = 0

    gw = await make_gateway(edit)
    async with http.post(
        gw.url + "/v1/chat/completions", json=CHAT, headers={**auth(), "x-qiao-strategy": "priority"}
    ) as r:
        assert r.headers["x-qiao-provider"] == "ds-a"
    async with http.post(gw.url + "/v1/chat/completions", json=CHAT, headers=auth()) as r:
        assert r.headers["x-qiao-provider"] != "ds-a"


async def test_rpm_limit_is_respected_locally(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A provider's configured RPM is never exceeded: extra requests go to the next candidate."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["limits"] = {"rpm": 5}

    gw = await make_gateway(edit)
    providers = [(await post(gw, http))[1]["x-qiao-provider"] for _ in range(8)]
    assert providers.count("ds-a") == 5 and providers.count("ds-b") == 3
    assert await emulator.requests("deepseek.a") == 5


async def test_learns_limits_from_ratelimit_headers(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A vendor reporting no requests left (x-ratelimit-remaining-requests: 0) is rested before it answers 429."""
    await emulator.limits("deepseek.a", rpm=3)  # the gateway is not told: it learns from the headers
    providers = [(await post(gateway, http))[1]["x-qiao-provider"] for _ in range(6)]
    assert providers == ["ds-a"] * 3 + ["ds-b"] * 3
    assert (await emulator.stats())["deepseek.a"]["limit_rejections"] == 0
