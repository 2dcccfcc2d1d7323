"""iFlytek Spark (HTTP) against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import pytest

from balancer.vendors import openai_compat as compat
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("spark", "generalv3.5")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape from no-space 'data:' frames carrying code/sid."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """Body codes at HTTP 200 (11202 rate, 11200 volume, 10013 moderation, 10907 tokens) each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets Spark's 401 body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


async def test_daily_cap_disables_until_beijing_midnight(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """11201 (daily volume cap) takes the account out until 00:00 Beijing time, then it comes back by itself."""
    gw = await kit.gateway(make_gateway, CASE)
    gw.clock.now = 1_795_500_000.0  # 2026-11-24 06:00 UTC = 14:00 Beijing
    body = {"code": 11201, "message": "AppIdDayFlowOverFlowError:日流控超限", "sid": "cha0"}
    await emulator.fault("spark", "balance_exhausted", body=body, status=200, count=1)
    assert await kit.served_by(gw) == "backup"
    health = gw.gw.store.health("v", CASE.model, gw.clock())
    assert health.reason == "cooldown:quota_exhausted"
    assert health.until == pytest.approx(1_795_500_000.0 + 10 * 3600)
    gw.clock.advance(10 * 3600 + 1)
    assert await kit.served_by(gw) == "v"


def test_reset_is_next_midnight_utc8() -> None:
    """Just after midnight Beijing time the daily reset is a full day away; just before, seconds away."""
    midnight_cn = 1_795_363_200.0  # 2026-11-23 00:00 Beijing
    assert compat.seconds_to_reset("day_cn", midnight_cn + 1) == pytest.approx(86_399)
    assert compat.seconds_to_reset("day_cn", midnight_cn - 5) == pytest.approx(5)
    assert compat.seconds_to_reset(None, midnight_cn) is None


async def test_error_in_first_stream_chunk(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A stream request answered with a JSON 200 error body (code 11202) fails over like a non-stream one."""
    gw = await kit.gateway(make_gateway, CASE)
    await emulator.fault("spark", "rate_limit", count=1)
    chunks = await gw.client().chat.completions.create(model="v", messages=kit.MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    assert text and await emulator.requests("openai.backup") == 1
