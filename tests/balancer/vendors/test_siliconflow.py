"""SiliconFlow against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import orjson

from balancer.errors import Failure
from balancer.vendors import REGISTRY
from balancer.vendors import openai_compat as compat
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("siliconflow", "deepseek-ai/DeepSeek-V3")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """429, 403 insufficient balance, 503 and 400 bodies each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets SiliconFlow's 401 body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """GET /user/info: balance (granted) and chargeBalance (paid) apart; empty disables, a top-up re-enables."""
    await kit.balance(await kit.gateway(make_gateway, CASE), emulator, CASE)


def test_balance_code_other_than_20000_is_an_error() -> None:
    """user/info answers with code != 20000 are a failed poll, not a zero balance."""
    import pytest

    from balancer.vendors import siliconflow

    with pytest.raises(ValueError, match="code 40001"):
        siliconflow.parse_balance(b'{"code":40001,"message":"bad","status":false,"data":null}')
    assert REGISTRY["siliconflow"].balance is not None
    assert compat.classify_reply(REGISTRY["siliconflow"], 403, {}, orjson.dumps({"message": "x"}))[0].failure is (
        Failure.MODEL_UNAVAILABLE  # 403 = this model needs real-name verification / permission: that model only
    )
