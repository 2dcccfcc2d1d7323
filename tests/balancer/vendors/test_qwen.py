"""Alibaba Qwen (DashScope) against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import openai
import orjson
import pytest

from balancer.errors import Failure
from balancer.vendors import REGISTRY
from balancer.vendors import openai_compat as compat
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("qwen", "qwen-plus")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """Throttling.RateQuota, Arrearage (400), data_inspection_failed and input-length bodies each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets DashScope's invalid_api_key body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


def _class(status: int, body: object) -> Failure | None:
    return compat.classify_reply(REGISTRY[CASE.vendor], status, {}, orjson.dumps(body))[0].failure


def test_tpm_wording_is_not_billing() -> None:
    """'Allocated quota exceeded' (Throttling.AllocationQuota) is the TPM rate limit; FreeTierOnly is quota."""
    tpm = {"error": {"code": "Throttling.AllocationQuota", "message": "Allocated quota exceeded", "type": "x"}}
    assert _class(429, tpm) is Failure.RATE_LIMITED
    free = {"error": {"code": "AllocationQuota.FreeTierOnly", "message": "free tier used", "type": "x"}}
    assert _class(403, free) is Failure.QUOTA_EXHAUSTED


async def test_moderation_inside_an_open_stream(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """data_inspection_failed arriving mid-stream ends the client's stream with an error, never a clean finish."""
    gw = await kit.gateway(make_gateway, CASE)
    await emulator.fault("qwen", "stream_error", count=1)
    chunks = await gw.client().chat.completions.create(model="v", messages=kit.MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="content_filtered"):
        async for _ in chunks:
            pass
    assert await emulator.requests("openai.backup") == 0  # bytes were sent: no silent failover
