"""StepFun against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import orjson

from balancer.errors import Failure
from balancer.vendors import REGISTRY
from balancer.vendors import openai_compat as compat
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("stepfun", "step-1-8k")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """429, 402 balance, 451 moderation and 503 bodies each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets StepFun's invalid_api_key body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


def _class(status: int, body: object) -> Failure | None:
    return compat.classify_reply(REGISTRY[CASE.vendor], status, {}, orjson.dumps(body))[0].failure


def test_451_is_content_and_402_is_balance() -> None:
    """451 means moderation (not the account's fault), 402 no balance."""
    assert _class(451, {"error": {"message": "x", "type": "y"}}) is Failure.CONTENT_FILTERED
    assert _class(402, {"error": {"message": "x", "type": "y"}}) is Failure.QUOTA_EXHAUSTED
