"""01.AI Yi against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("yi", "yi-lightning")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """Yi's (assumed OpenAI-style) error bodies each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets the 401 body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)
