"""The operators' snapshot: each provider's state, quota, balance and grants, as the emulator makes them."""

from __future__ import annotations

from typing import Any

from balancer import status
from tests.conftest import CHAT, EmulatorHandle, GatewayFactory


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
