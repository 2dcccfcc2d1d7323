"""DeepSeek against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("deepseek", "deepseek-chat")


async def test_chat_stream_tools(make_gateway: GatewayFactory) -> None:
    """A plain reply, a stream and a tool call all come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)
    await kit.tools(gw)


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """402, 429, 401, 503 and 400 bodies each lead to their failure class's consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets DeepSeek's 401 body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance_poll(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """GET /user/balance: granted and topped-up money apart; empty disables, a top-up re-enables."""
    await kit.balance(await kit.gateway(make_gateway, CASE), emulator, CASE)
