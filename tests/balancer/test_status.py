"""The operators' snapshot: each provider's state, quota, balance and grants, as the emulator makes them."""

from __future__ import annotations

import math
from typing import Any

import aiohttp
import redis.asyncio as aioredis
import structlog

from balancer import status
from balancer.state import keys
from balancer.state.redis import RedisStore
from tests.conftest import ADMIN_KEY, CHAT, EmulatorHandle, GatewayFactory, auth


def _by_name(st: status.Status) -> dict[str, status.ProviderState]:
    return {p.name: p for p in st.providers}


async def test_states_follow_what_the_providers_do(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """Up by default; a bad key disables the account (auth_failed); a drain takes one out until undrained;
    a rate limit on one model makes the account partial; quota counts this minute's requests."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["limits"] = {"rpm": 100}
        cfg["providers"]["qwen"]["account"] = {"grants": [{"name": "pack", "tokens": 1000, "expires": "2099-01-01"}]}

    gw = await make_gateway(edit)
    assert {p.state for p in (await status.snapshot(gw.gw)).providers} == {"up"}
    client = gw.client()
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    await emulator.fault("deepseek.a", "auth", count=1)
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    await status.drain(gw.gw, "kimi")
    st = _by_name(await status.snapshot(gw.gw))
    assert st["ds-a"].state == "disabled" and st["ds-a"].reason == "auth_failed"
    assert st["ds-a"].quota.requests == 2 and st["ds-a"].limits["rpm"] == 100
    assert st["kimi"].state == "drained" and st["kimi"].until is None
    assert st["ds-b"].state == "up"
    assert st["qwen"].grants[0]["name"] == "pack" and st["qwen"].grants[0]["remaining"] == 1000
    assert st["ds-a"].balance is not None and st["ds-a"].balance["currency"] == "CNY"
    assert [p.name for p in (await status.snapshot(gw.gw)).out] == ["ds-a", "kimi"]
    await status.undrain(gw.gw, "kimi")
    assert _by_name(await status.snapshot(gw.gw))["kimi"].state == "up"


async def test_a_cooled_model_makes_its_account_partial(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A model taken out on its own (unavailable at the vendor) leaves the account partial, with the reason."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["routes"]["other"] = {
            "strategy": "priority",
            "candidates": [{"provider": "ds-a", "model": "deepseek-reasoner"}],
        }

    gw = await make_gateway(edit)
    await emulator.fault("deepseek.a", "custom", status=404, body='{"error": {"message": "model not found"}}', count=1)
    await gw.client().chat.completions.create(**CHAT)  # type: ignore[call-overload]
    a = _by_name(await status.snapshot(gw.gw))["ds-a"]
    assert a.state == "partial"
    down = [m for m in a.models if not m.available]
    assert [m.model for m in down] == ["deepseek-chat"] and down[0].reason == "cooldown:model_unavailable"


async def test_accounts_out_are_visible_in_readyz_and_warned_once(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """An account out for a bad key: one warning (not one per request), /readyz says degraded and lists it with
    the reason; a drained one is listed too; a route whose every candidate is out is named."""
    gw = await make_gateway()
    await emulator.fault("deepseek.a", "auth")
    client = gw.client()
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    warned = [e for e in logs if e["event"] == "provider_disabled"]
    assert len(warned) == 1 and warned[0]["target"] == "ds-a" and warned[0]["log_level"] == "warning"
    await status.drain(gw.gw, "qwen")
    async with aiohttp.ClientSession() as http, http.get(gw.url + "/readyz") as r:
        body = await r.json()
    assert r.status == 200 and body["status"] == "degraded"
    assert [(p["provider"], p["reason"]) for p in body["providers_out"]] == [
        ("ds-a", "auth_failed"),
        ("qwen", "drained"),
    ]
    assert body["routes_down"] == ["embed", "solo"]  # embed's only candidate is drained, solo's has a bad key


async def test_a_hand_edited_quota_window_in_redis_leaves_the_status_readable(
    make_gateway: GatewayFactory, redis_url: str, http: aiohttp.ClientSession
) -> None:
    """This minute's request counter of an account in Redis hand-edited to a non-integer: /admin/status, /readyz
    and /metrics still answer 200 (no 500, no traceback), the account's quota read from this instance's own
    figures."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["limits"] = {"rpm": 100}  # a limit: leases count in this minute's window

    gw = await make_gateway(edit, store=RedisStore.from_url(redis_url))
    await gw.client().chat.completions.create(**CHAT)  # type: ignore[call-overload]
    window = keys.window("ds-a", math.floor(gw.clock() / 60.0))
    r = aioredis.Redis.from_url(redis_url)
    assert await r.hget(window, "r") is not None
    await r.hset(window, "r", "many")
    await r.aclose()
    with structlog.testing.capture_logs() as logs:
        for path in ("/admin/status", "/readyz", "/metrics"):
            async with http.get(gw.url + path, headers=auth(ADMIN_KEY)) as resp:
                assert resp.status == 200, (path, await resp.text())
        ds_a = _by_name(await status.snapshot(gw.gw))["ds-a"]
    assert ds_a.quota.requests == 1
    assert not [e for e in logs if "exc_info" in e or "exception" in e]
