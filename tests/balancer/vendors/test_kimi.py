"""Moonshot Kimi against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest
import structlog

from balancer.errors import Failure
from balancer.vendors import REGISTRY
from balancer.vendors import openai_compat as compat
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("kimi", "moonshot-v1-8k")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape, usage inside choices[0].usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """rate_limit_reached_error vs exceeded_current_quota_error (both 429), content_filter and token-limit bodies each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets Moonshot's invalid_authentication_error body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """GET /users/me/balance: voucher (granted) and cash (paid) apart; empty disables, a top-up re-enables."""
    await kit.balance(await kit.gateway(make_gateway, CASE), emulator, CASE)


def _class(status: int, body: object) -> Failure | None:
    return compat.classify_reply(REGISTRY[CASE.vendor], status, {}, orjson.dumps(body))[0].failure


def test_403_insufficient_balance_variant() -> None:
    """The help centre's 403 'insufficient balance' is quota too, while other 403s stay auth."""
    bal = {"error": {"message": "Your account balance is insufficient", "type": "permission_denied_error"}}
    assert _class(403, bal) is Failure.QUOTA_EXHAUSTED
    assert _class(403, {"error": {"message": "no", "type": "permission_denied_error"}}) is Failure.AUTH_FAILED


async def test_k2_6_takes_temperature_1_alone(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """kimi-k2.6 refuses any temperature but 1 (the emulator answers Kimi's 400 for it): a client's 0.7 is sent as
    1 and the change logged; moonshot-v1-8k keeps the vendor's range, so its 0.7 goes as it came."""
    seen = emulator.record_bodies()
    k26 = await kit.gateway(make_gateway, kit.Case("kimi", "kimi-k2.6"))
    assert await kit.dropped(k26, {"temperature": 0.7}) == ["temperature 0.7->1.0"]
    assert seen[-1]["temperature"] == 1.0
    v1 = await kit.gateway(make_gateway, CASE)
    assert await kit.dropped(v1, {"temperature": 0.7}) == []
    assert seen[-1]["temperature"] == 0.7


async def test_tool_choice_required_is_refused_by_kimi(make_gateway: GatewayFactory) -> None:
    """Kimi takes tool_choice none or auto alone: "required" on Kimi alone is a 400 naming tool_choice, auto is served."""
    gw = await kit.gateway(make_gateway, CASE)
    tools: Any = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(
            model="v-only", messages=kit.MESSAGES, tools=tools, tool_choice="required"
        )
    assert isinstance(exc.value.body, dict) and exc.value.body["param"] == "tool_choice"
    reply = await gw.client().chat.completions.create(
        model="v-only", messages=kit.MESSAGES, tools=tools, tool_choice="auto"
    )
    assert reply.choices


async def test_an_agents_history_with_empty_assistant_turns_is_served(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """An agent's tool loop as another vendor's replies leave it (a tool call with content "", an assistant turn with
    no text) is refused by Kimi (the emulator answers its 400s): the gateway leaves the empty content and the empty
    turn out, Kimi serves the rest as it came, and request_done logs both."""
    gw = await kit.gateway(make_gateway, CASE)
    seen = emulator.record_bodies()
    call = {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"北京"}'}}
    history: Any = [
        {"role": "user", "content": "北京天气？"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_0", "content": "晴，25度"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "那上海呢？"},
    ]
    assert await kit.dropped(gw, {"messages": history}) == [
        "left out the empty content of 1 assistant tool-call messages",
        "left out 1 empty assistant messages",
    ]
    assert seen[-1]["messages"] == [history[0], {"role": "assistant", "tool_calls": [call]}, history[2], history[4]]


async def test_a_tool_loop_without_its_reasoning_is_served_by_a_thinking_model(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """kimi-k2.6 thinks by default and refuses a tool call sent back without its reasoning_content (the emulator
    answers Kimi's 400), as a client keeping content and tool_calls alone sends it: the gateway gives the turn's
    assistant messages "." and logs it. With thinking disabled, and on moonshot-v1 (which does not think), the
    history goes as it came."""
    seen = emulator.record_bodies()
    k26 = await kit.gateway(make_gateway, kit.Case("kimi", "kimi-k2.6"))
    history = await kit.tool_loop(k26)
    given = ["gave 2 assistant messages of tool-call turns a placeholder reasoning_content"]
    assert await kit.dropped(k26, {"messages": history}) == given
    assert seen[-1]["messages"][1] == {**history[1], "reasoning_content": "."}
    assert seen[-1]["messages"][3] == {**history[3], "reasoning_content": "."}
    off = {"messages": history, "extra_body": {"thinking": {"type": "disabled"}}}
    assert await kit.dropped(k26, off) == []
    assert seen[-1]["messages"] == history
    assert await kit.dropped(await kit.gateway(make_gateway, CASE), {"messages": history}) == []
    assert seen[-1]["messages"] == history


UNTYPED: Any = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "parameters": {"type": "object", "properties": {"source": {"description": "来源"}}},
        },
    }
]


async def test_a_tool_schema_outside_moonshots_subset_fails_over(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """Kimi refuses a tool schema other vendors take (a property naming no type, a root not typed "object": the
    emulator answers Kimi's 400s): the request fails over to the next candidate and is served there, and Kimi stays
    healthy (the next plain request goes to it). With Kimi alone the client gets a 400 invalid_request_error, code unsupported, in Kimi's
    words."""
    gw = await kit.gateway(make_gateway, CASE)
    with structlog.testing.capture_logs() as logs:
        raw = await gw.client().chat.completions.with_raw_response.create(
            model="v", messages=kit.MESSAGES, tools=UNTYPED
        )
        done = await kit.request_done(logs)
    assert raw.headers["x-qiao-provider"] == "backup"
    assert [a["result"] for a in done["attempts"]] == ["unsupported", "ok"]
    assert await kit.served_by(gw) == "v"
    rootless = [
        {"type": "function", "function": {"name": "f", "parameters": {"properties": {"q": {"type": "string"}}}}}
    ]
    raw = await gw.client().chat.completions.with_raw_response.create(model="v", messages=kit.MESSAGES, tools=rootless)
    assert raw.headers["x-qiao-provider"] == "backup"  # Kimi's "tools.function.parameters.type is required" 400
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(model="v-only", messages=kit.MESSAGES, tools=UNTYPED)
    assert exc.value.code == "unsupported" and exc.value.type == "invalid_request_error"
    assert "<At path 'properties.source': type is not defined>" in exc.value.message


async def test_a_refused_tool_set_is_not_sent_to_kimi_again_within_the_hour(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """Once Kimi refused a tool set, a request carrying the same tools skips it (logged ``skipped:refused:tools``,
    no round trip) and is served by the next candidate, a stream too; other tools still go to Kimi. With Kimi alone the client
    gets the same 400 (code unsupported, param tools, Kimi's words) without a round trip. An hour on (the
    gateway's clock), Kimi is asked again."""
    gw = await kit.gateway(make_gateway, CASE)
    target = CASE.target

    async def tried() -> int:
        return await emulator.requests(target)

    await gw.client().chat.completions.create(model="v", messages=kit.MESSAGES, tools=UNTYPED)
    assert await tried() == 1
    with structlog.testing.capture_logs() as logs:
        raw = await gw.client().chat.completions.with_raw_response.create(
            model="v", messages=kit.MESSAGES, tools=UNTYPED
        )
        done = await kit.request_done(logs)
    assert raw.headers["x-qiao-provider"] == "backup" and await tried() == 1
    assert [a["result"] for a in done["attempts"]] == ["skipped:refused:tools", "ok"]
    stream = await gw.client().chat.completions.with_raw_response.create(
        model="v", messages=kit.MESSAGES, tools=UNTYPED, stream=True
    )
    assert stream.headers["x-qiao-provider"] == "backup" and [c async for c in stream.parse()]
    assert await tried() == 1
    await kit.tools(gw)  # a tool set Kimi takes
    assert await tried() == 2
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(model="v-only", messages=kit.MESSAGES, tools=UNTYPED)
    assert await tried() == 2
    assert exc.value.code == "unsupported" and exc.value.param == "tools"
    assert "<At path 'properties.source': type is not defined>" in exc.value.message
    gw.clock.advance(3601)
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(model="v-only", messages=kit.MESSAGES, tools=UNTYPED)
    assert await tried() == 3 and exc.value.code == "unsupported"
