"""A field a candidate cannot honour (tools, n): fail over to one that can, or a 400 naming the field; never a
silent drop. The emulator honours n, so one choice for n=2 would show."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest
import structlog

from tests.conftest import CHAT, EmulatorHandle, GatewayFactory, GatewayHandle, auth

TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
]


def capability_routes(cfg: dict[str, Any]) -> None:
    """hunyuan-lite has no tool calling (ModelInfo.tools False); MiniMax accepts n <= 1 (Quirks.max_n)."""
    cfg["providers"]["hy"] = {
        "vendor": "hunyuan",
        "api_key": "sk-h",
        "base_url": cfg["providers"]["qwen"]["base_url"].replace("/qwen", "/hunyuan"),
    }
    cfg["providers"]["mm"] = {
        "vendor": "minimax",
        "api_key": "sk-m",
        "base_url": cfg["providers"]["qwen"]["base_url"].replace("/qwen", "/minimax"),
    }
    cfg["routes"]["tools-first-lite"] = {
        "candidates": [{"provider": "hy", "model": "hunyuan-lite"}, {"provider": "ds-a", "model": "deepseek-chat"}]
    }
    cfg["routes"]["lite-only"] = {"candidates": [{"provider": "hy", "model": "hunyuan-lite"}]}
    cfg["routes"]["n-first-minimax"] = {
        "candidates": [{"provider": "mm", "model": "MiniMax-M2.5"}, {"provider": "ds-a", "model": "deepseek-chat"}]
    }
    cfg["routes"]["minimax-only"] = {"candidates": [{"provider": "mm", "model": "MiniMax-M2.5"}]}


@pytest.fixture
async def gw(make_gateway: GatewayFactory) -> GatewayHandle:
    handle: GatewayHandle = await make_gateway(capability_routes)
    return handle


async def test_tools_fail_over_to_a_candidate_with_tool_calling(gw: GatewayHandle, emulator: EmulatorHandle) -> None:
    """A request with tools skips a model without tool calling (logged as skipped, never sent) and is served
    by the next candidate, which answers with the tool call."""
    seen = emulator.record_bodies()
    with structlog.testing.capture_logs() as logs:
        reply = await gw.client().chat.completions.create(
            model="tools-first-lite", messages=[{"role": "user", "content": "weather in Beijing?"}], tools=TOOLS
        )
    assert reply.choices[0].message.tool_calls and reply.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert len(seen) == 1 and seen[0]["model"] == "deepseek-chat" and seen[0]["tools"] == TOOLS
    done = next(e for e in logs if e["event"] == "request_done")
    assert [a["result"] for a in done["attempts"]] == ["skipped:unsupported:tools", "ok"]


async def test_tools_to_a_route_that_cannot_call_tools_is_400_naming_tools(
    gw: GatewayHandle, emulator: EmulatorHandle
) -> None:
    """When no candidate can call tools the client gets a 400 naming 'tools' and the model, not a 200 with the
    tools silently dropped or a confusing 'All 0 attempt(s)' error."""
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(
            model="lite-only", messages=[{"role": "user", "content": "x"}], tools=TOOLS
        )
    err = exc.value.body
    assert isinstance(err, dict) and err["param"] == "tools" and err["code"] == "unsupported_parameter"
    assert "hunyuan-lite" in err["message"] and "attempt" not in err["message"]
    assert await emulator.requests("hunyuan") == 0


async def test_the_same_model_without_tools_is_served(gw: GatewayHandle) -> None:
    """Without tools the model without tool calling serves as usual (the skip is only for requests with tools)."""
    reply = await gw.client().chat.completions.create(model="lite-only", messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content


async def test_n_fails_over_past_a_vendor_limited_to_one_choice(gw: GatewayHandle) -> None:
    """n=2 skips a vendor that accepts n <= 1 and the next candidate returns two choices."""
    resp = await gw.client().chat.completions.with_raw_response.create(
        model="n-first-minimax", messages=[{"role": "user", "content": "x"}], n=2
    )
    reply = resp.parse()
    assert [c.index for c in reply.choices] == [0, 1]
    assert resp.headers["x-qiao-provider"] == "ds-a"


async def test_n_above_every_candidates_limit_is_400_naming_n(gw: GatewayHandle) -> None:
    """n=3 on a route whose only vendor accepts n <= 1: a 400 naming 'n' and the limit."""
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(
            model="minimax-only", messages=[{"role": "user", "content": "x"}], n=3
        )
    err = exc.value.body
    assert isinstance(err, dict) and err["param"] == "n" and err["code"] == "unsupported_value"
    assert "n <= 1" in err["message"]


async def test_a_capable_candidate_cooling_down_is_503_not_400(
    gw: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """When the only candidate that can call tools is cooling down, the answer is 503 (retry later), not a 400
    saying the route cannot call tools."""
    await emulator.fault("deepseek.a", "rate_limit", retry_after=60)
    body = {**CHAT, "model": "tools-first-lite", "tools": TOOLS}
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        assert r.status == 429  # the capable candidate is tried and rate-limited
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        assert r.status == 503 and (await r.json())["error"]["code"] == "no_capacity"


@pytest.mark.parametrize("stream", [False, True])
async def test_emulator_honours_n(gateway: GatewayHandle, stream: bool) -> None:
    """The emulator answers n choices (streamed or not), with completion tokens for all of them."""
    client = gateway.client()
    messages: Any = [{"role": "user", "content": "x"}]
    if not stream:
        reply = await client.chat.completions.create(model="chat", messages=messages, n=3)
        assert [c.index for c in reply.choices] == [0, 1, 2] and all(c.message.content for c in reply.choices)
        assert reply.usage is not None and reply.usage.completion_tokens == 3 * 8
        return
    chunks = await client.chat.completions.create(
        model="chat", messages=messages, n=3, stream=True, stream_options={"include_usage": True}
    )
    texts: dict[int, str] = {}
    usage = None
    async for chunk in chunks:
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
        usage = chunk.usage or usage
    assert sorted(texts) == [0, 1, 2] and all(texts.values())
    assert usage is not None and usage.completion_tokens == 3 * 8
