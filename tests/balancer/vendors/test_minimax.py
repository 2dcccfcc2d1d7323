"""MiniMax against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from balancer.errors import Failure
from balancer.vendors import REGISTRY, shaping
from balancer.vendors import openai_compat as compat
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("minimax", "MiniMax-M1")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """HTTP 200 base_resp codes (1002 rate, 1008 balance, 1026 sensitive, 1039 token limit) each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets MiniMax's 1004 body (HTTP 200) and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


def _class(status: int, body: object) -> Failure | None:
    return compat.classify_reply(REGISTRY[CASE.vendor], status, {}, orjson.dumps(body))[0].failure


def test_temperature_zero_is_raised_and_n_limited() -> None:
    """temperature 0 (rejected by MiniMax) is raised into (0, 1]; n > 1 makes the candidate unusable."""
    from balancer import wire

    data = b'{"model":"r","messages":[{"role":"user","content":"x"}],"temperature":0}'
    body = wire.decode_body(data)
    shaped = shaping.shape_chat(REGISTRY["minimax"], dict(body), wire.chat_view(body, len(data)), "MiniMax-M1", None)
    assert orjson.loads(shaped.body)["temperature"] == 0.01 and shaped.adjustments == ["temperature 0.0->0.01"]


async def test_n_above_one_skips_minimax(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A request with n=2 is not sent to MiniMax (n is 1 only) but to the next candidate."""
    gw = await kit.gateway(make_gateway, CASE)
    raw = await gw.client().chat.completions.with_raw_response.create(model="v", messages=kit.MESSAGES, n=2)
    assert raw.headers["x-qiao-provider"] == "backup" and await emulator.requests("minimax") == 0


def test_http_200_codes() -> None:
    """base_resp codes decide at HTTP 200: 1002 rate, 1008 balance, 1027 output sensitive, 1039 "token limit"
    (a token rate: the table says retry later), 2049 invalid API key."""

    def body(code: int) -> object:
        return {"base_resp": {"status_code": code, "status_msg": "x"}}

    assert _class(200, body(1002)) is Failure.RATE_LIMITED
    assert _class(200, body(1008)) is Failure.QUOTA_EXHAUSTED
    assert _class(200, body(1027)) is Failure.CONTENT_FILTERED
    assert _class(200, body(1039)) is Failure.RATE_LIMITED
    assert _class(200, body(2049)) is Failure.AUTH_FAILED
    assert _class(200, {"choices": [], "base_resp": {"status_code": 0, "status_msg": ""}}) is None


async def test_system_messages_are_merged_or_go_past_minimax(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """MiniMax takes one system message, first (the emulator answers its 400 2013 otherwise): a system prompt,
    a context block and a developer message are merged into one and served by MiniMax, the change logged; a system
    message after a turn goes to the route's next candidate, and on MiniMax alone a 400 names messages."""
    gw = await kit.gateway(make_gateway, CASE)
    seen = emulator.record_bodies()
    lead: Any = [
        {"role": "system", "content": "你是客服助手。"},
        {"role": "system", "content": "工作区：/srv"},
        {"role": "developer", "content": "只用中文回答。"},
        {"role": "user", "content": "你好"},
    ]
    assert await kit.dropped(gw, {"messages": lead}) == [
        "role developer sent as system",
        "merged 3 system messages into one",
    ]
    assert seen[-1]["messages"] == [
        {"role": "system", "content": "你是客服助手。\n\n工作区：/srv\n\n只用中文回答。"},
        {"role": "user", "content": "你好"},
    ]
    later: Any = [*kit.MESSAGES, {"role": "assistant", "content": "好"}, {"role": "system", "content": "简短"}]
    later.append({"role": "user", "content": "再说一遍"})
    raw = await gw.client().chat.completions.with_raw_response.create(model="v", messages=later)
    assert raw.headers["x-qiao-provider"] == "backup" and seen[-1]["model"] != CASE.model
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(model="v-only", messages=later)
    assert isinstance(exc.value.body, dict) and exc.value.body["param"] == "messages"
