"""ByteDance Doubao (Volcengine Ark) against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import orjson

from balancer.errors import Failure
from balancer.vendors import REGISTRY
from balancer.vendors import openai_compat as compat
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("doubao", "doubao-1-5-pro-32k-250115")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """RateLimitExceeded.*, 403 AccountOverdueError, ServerOverloaded, SensitiveContentDetected and OutofContextError each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets Ark's AuthenticationError body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


def _class(status: int, body: object) -> Failure | None:
    return compat.classify_reply(REGISTRY[CASE.vendor], status, {}, orjson.dumps(body))[0].failure


def test_429_split_by_code() -> None:
    """Ark's 429s: RateLimitExceeded.* is transient, ServerOverloaded the platform's, and QuotaExceeded (one model's
    free trial used) / SetLimitExceeded (the user's cap for one model) take out that model, not the account."""

    def body(code: str) -> object:
        return {"error": {"code": code, "message": "x", "param": "", "type": "TooManyRequests"}}

    assert _class(429, body("RateLimitExceeded.EndpointTPMExceeded")) is Failure.RATE_LIMITED
    assert _class(429, body("ModelAccountTpmRateLimitExceeded")) is Failure.RATE_LIMITED
    assert _class(429, body("QuotaExceeded")) is Failure.MODEL_UNAVAILABLE
    assert _class(429, body("SetLimitExceeded")) is Failure.MODEL_UNAVAILABLE
    assert _class(429, body("ServerOverloaded")) is Failure.UPSTREAM_ERROR
