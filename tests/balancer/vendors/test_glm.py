"""Zhipu GLM against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import aiohttp
import openai
import pytest
import structlog

from balancer.vendors import glm
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("glm", "glm-4-plus", key="key-id.key-secret")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """429 + 1302 (rate) vs 429 + 1113 (balance), 1305 overload, 1301 and 1261 bodies each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets Zhipu's 1002 body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


def test_jwt_is_hs256_signed_and_cached() -> None:
    """The JWT has header sign_type SIGN, claims in milliseconds, an HS256 signature of the secret, and is reused within its window."""
    now = 1_795_500_000.0
    token = glm.sign("key-id.key-secret", b"", {"auth": "jwt"}, now)["Authorization"].removeprefix("Bearer ")
    head, claims, sig = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(head))) == {"alg": "HS256", "sign_type": "SIGN"}
    body = json.loads(base64.urlsafe_b64decode(pad(claims)))
    assert body["api_key"] == "key-id" and body["exp"] > now * 1000 >= body["timestamp"]
    want = hmac.new(b"key-secret", f"{head}.{claims}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(pad(sig)) == want
    assert glm.sign("key-id.key-secret", b"", {"auth": "jwt"}, now + 60)["Authorization"] == f"Bearer {token}"
    assert glm.sign("key-id.key-secret", b"", {}, now) == {"Authorization": "Bearer key-id.key-secret"}


async def test_jwt_auth_through_emulator(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """With extra auth=jwt the emulator verifies the signed token against the account's secret."""
    case = kit.Case("glm", "glm-4-plus", key="key-id.key-secret", extra={"auth": "jwt"})
    gw = await kit.gateway(make_gateway, case)
    async with aiohttp.ClientSession() as s:
        await s.post(f"{emulator.url}/_emulator/keys", json={"target": "glm", "key": "key-id.key-secret"})
    assert await kit.served_by(gw) == "v"


async def test_daily_cap_1304_resets_at_midnight(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """1304 (daily call cap) disables the account only until the next Beijing midnight."""
    gw = await kit.gateway(make_gateway, CASE)
    body = {"error": {"code": "1304", "message": "当日API调用次数已达上限"}}
    await emulator.fault("glm", "rate_limit", body=body, count=1)
    assert await kit.served_by(gw) == "backup"
    health = gw.gw.store.health("v", CASE.model, gw.clock())
    assert health.reason == "cooldown:quota_exhausted" and health.until - gw.clock() <= 86400


async def test_structured_output_goes_past_glm_which_would_ignore_the_schema(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """GLM answers a json_schema with 200 and the schema ignored (the emulator plays that): the gateway sends it to
    the route's next candidate instead (here OpenAI), and on GLM alone answers a 400 naming response_format."""
    gw = await kit.gateway(make_gateway, CASE)
    seen = emulator.record_bodies()
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    with structlog.testing.capture_logs() as logs:
        raw = await gw.client().chat.completions.with_raw_response.create(
            model="v", messages=kit.MESSAGES, response_format=fmt
        )
        done = await kit.request_done(logs)
    assert raw.headers["x-qiao-provider"] == "backup" and [b["model"] for b in seen] == ["gpt-4.1"]
    assert [a["result"] for a in done["attempts"]] == ["skipped:unsupported:response_format", "ok"]
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(model="v-only", messages=kit.MESSAGES, response_format=fmt)
    assert isinstance(exc.value.body, dict) and exc.value.body["param"] == "response_format"


async def test_a_named_tool_choice_goes_past_glm(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """GLM takes tool_choice "auto" alone (the emulator answers its 400 to another): a named tool, as LangChain's
    structured output asks it, goes to the route's next candidate; on GLM alone a 400 names tool_choice."""
    gw = await kit.gateway(make_gateway, CASE)
    seen = emulator.record_bodies()
    tools: Any = [{"type": "function", "function": {"name": "City", "parameters": {"type": "object"}}}]
    named: Any = {"type": "function", "function": {"name": "City"}}
    raw = await gw.client().chat.completions.with_raw_response.create(
        model="v", messages=kit.MESSAGES, tools=tools, tool_choice=named
    )
    assert raw.headers["x-qiao-provider"] == "backup" and [b["model"] for b in seen] == ["gpt-4.1"]
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(model="v-only", messages=kit.MESSAGES, tools=tools, tool_choice=named)
    assert isinstance(exc.value.body, dict) and exc.value.body["param"] == "tool_choice"
    assert "'function'" in exc.value.body["message"]
    reply = await gw.client().chat.completions.create(
        model="v-only", messages=kit.MESSAGES, tools=tools, tool_choice="auto"
    )
    assert reply.choices
