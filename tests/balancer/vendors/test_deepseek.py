"""DeepSeek against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.balancer.vendors import kit
from tests.conftest import CLIENT_KEY, EmulatorHandle, GatewayFactory

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


async def test_max_completion_tokens_is_sent_as_max_tokens(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """DeepSeek ignores max_completion_tokens (the openai SDK's newer name): the gateway sends the limit as
    max_tokens, so the reply stops there (the emulator plays DeepSeek ignoring the other name), and logs the rename."""
    gw = await kit.gateway(make_gateway, CASE)
    seen = emulator.record_bodies()
    assert await kit.dropped(gw, {"max_completion_tokens": 3}) == ["renamed max_completion_tokens to max_tokens"]
    assert seen[-1]["max_tokens"] == 3 and "max_completion_tokens" not in seen[-1]
    reply = await gw.client().chat.completions.create(model="v-only", messages=kit.MESSAGES, max_completion_tokens=3)
    assert reply.usage is not None and reply.usage.completion_tokens == 3


async def test_the_developer_role_is_sent_as_system(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """DeepSeek refuses the role "developer" (the emulator answers its 400): the gateway sends it as "system", the
    rest of every message as it came, and logs the change."""
    gw = await kit.gateway(make_gateway, CASE)
    seen = emulator.record_bodies()
    messages = [
        {"role": "developer", "content": "只用中文回答。", "name": "规则"},
        {"role": "user", "content": [{"type": "text", "text": "你好"}]},
    ]
    assert await kit.dropped(gw, {"messages": messages}) == ["role developer sent as system"]
    assert seen[-1]["messages"] == [{**messages[0], "role": "system"}, messages[1]]


async def test_a_tool_loop_without_its_reasoning_is_served_while_thinking(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """deepseek-flash thinks by default and refuses a turn that called a tool sent back without its reasoning_content,
    the call's and the turn's answer's (the emulator answers DeepSeek's 400), as a client keeping content and
    tool_calls alone sends it: the gateway gives both "" and logs it. deepseek-chat does not think unless the request
    enables it: its history goes as it came, and gets "" once thinking is enabled."""
    seen = emulator.record_bodies()
    flash = await kit.gateway(make_gateway, kit.Case("deepseek", "deepseek-flash"))
    history = await kit.tool_loop(flash)
    given = ["gave 2 assistant messages of tool-call turns a placeholder reasoning_content"]
    assert await kit.dropped(flash, {"messages": history}) == given
    assert seen[-1]["messages"][1] == {**history[1], "reasoning_content": ""}
    assert seen[-1]["messages"][3] == {**history[3], "reasoning_content": ""}
    chat = await kit.gateway(make_gateway, CASE)
    assert await kit.dropped(chat, {"messages": history}) == []
    assert seen[-1]["messages"] == history
    assert await kit.dropped(chat, {"messages": history, "extra_body": {"thinking": {"type": "enabled"}}}) == given


async def test_langchains_tool_loop_reaches_a_thinking_model(make_gateway: GatewayFactory) -> None:
    """LangChain's ChatOpenAI, the client reported dropping reasoning_content (github:bytedance/deer-flow#3043), runs a
    tool loop against deepseek-flash through the gateway: the call, the tool's result, then the answer. Without the
    gateway's placeholder the second request is DeepSeek's 400 (the emulator plays it)."""
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI

    gw = await kit.gateway(make_gateway, kit.Case("deepseek", "deepseek-flash"))
    llm = ChatOpenAI(base_url=gw.url + "/v1", api_key=CLIENT_KEY, model="v-only", max_retries=0, timeout=20)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}

    def loop() -> str:
        bound = llm.bind_tools([tool])
        history: list[Any] = [HumanMessage("杭州天气如何？")]
        call = bound.invoke(history)
        assert call.tool_calls, call
        history += [call, ToolMessage("晴，25度", tool_call_id=call.tool_calls[0]["id"])]
        return str(bound.invoke(history).content)

    assert await asyncio.to_thread(loop)
