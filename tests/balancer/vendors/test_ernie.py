"""Baidu ERNIE (Qianfan v2) against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import orjson

from balancer.errors import Failure
from balancer.vendors import REGISTRY
from balancer.vendors import openai_compat as compat
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("ernie", "ernie-4.0-8k")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """rpm_rate_limit_exceeded, insufficient balance, unsafe and tokens_too_long bodies each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets Qianfan's invalid_iam_token body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


def _class(status: int, body: object) -> Failure | None:
    return compat.classify_reply(REGISTRY[CASE.vendor], status, {}, orjson.dumps(body))[0].failure


def test_v1_bodies_still_classified() -> None:
    """v1-style bodies: error_code 18 is a rate limit, 17 (daily cap or arrears) quota until Beijing midnight."""
    assert _class(200, {"error_code": 18, "error_msg": "Open api qps request limit reached"}) is Failure.RATE_LIMITED
    outcome, _ = compat.classify_reply(
        REGISTRY["ernie"], 200, {}, b'{"error_code":17,"error_msg":"Open api daily request limit reached"}', 0.0
    )
    assert outcome.failure is Failure.QUOTA_EXHAUSTED and outcome.reset_after_s == 16 * 3600
