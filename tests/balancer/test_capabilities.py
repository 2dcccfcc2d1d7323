"""A field a candidate cannot honour (tools, n, an image to a text-only model): fail over to one that can, or a
400 naming the field; never a silent drop. The emulator honours n, so one choice for n=2 would show."""

from __future__ import annotations

import asyncio
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
    ds, vl = {"provider": "ds-a", "model": "deepseek-chat"}, {"provider": "qwen", "model": "qwen-vl-max"}
    cfg["routes"]["image-first-deepseek"] = {"strategy": "priority", "candidates": [ds, vl]}  # deepseek-chat: text only
    cfg["routes"]["deepseek-only"] = {"candidates": [ds]}
    plus = {"provider": "qwen", "model": "qwen-plus"}  # structured output not known: forwarded
    cfg["routes"]["schema-first-deepseek"] = {"strategy": "priority", "candidates": [ds, plus]}
    cfg["routes"]["vision-unknown"] = {"candidates": [{"provider": "qwen", "model": "qwen-plus"}]}  # vision None


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


IMAGE = {
    "type": "image_url",
    "image_url": {
        "url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    },
}
LOOK: Any = [{"role": "user", "content": [{"type": "text", "text": "这张图里有什么？"}, IMAGE]}]


async def test_an_image_fails_over_past_a_text_only_model(gw: GatewayHandle, emulator: EmulatorHandle) -> None:
    """An image part skips DeepSeek, which takes text only (its real answer would be a 400 "unknown variant
    `image_url`"), and the next candidate, a vision model, gets the messages as they came: the sync SDK,
    streamed."""
    seen = emulator.record_bodies()

    def ask() -> str:
        chunks = gw.sync_client().chat.completions.create(model="image-first-deepseek", messages=LOOK, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    with structlog.testing.capture_logs() as logs:
        assert await asyncio.to_thread(ask)
    assert len(seen) == 1 and seen[0]["model"] == "qwen-vl-max" and seen[0]["messages"] == LOOK
    assert await emulator.requests("deepseek.a") == 0
    done = next(e for e in logs if e["event"] == "request_done")
    assert [a["result"] for a in done["attempts"]] == ["skipped:unsupported:messages", "ok"]


async def test_an_image_to_a_text_only_route_is_400_naming_messages(
    gw: GatewayHandle, emulator: EmulatorHandle
) -> None:
    """An image anywhere in the history (here the first of three messages) on a route of text-only models: a
    400 naming 'messages', the model and the image, and nothing sent upstream."""
    history: Any = [*LOOK, {"role": "assistant", "content": "一只猫。"}, {"role": "user", "content": "什么颜色？"}]
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(model="deepseek-only", messages=history)
    err = exc.value.body
    assert isinstance(err, dict) and err["param"] == "messages" and err["code"] == "unsupported_value"
    assert "deepseek-chat" in err["message"] and "type 'image_url'" in err["message"]
    assert "attempt" not in err["message"] and await emulator.requests("deepseek.a") == 0


async def test_any_part_that_is_not_text_is_refused_by_a_text_only_route(gw: GatewayHandle) -> None:
    """Audio (or a file, or any part that is not text) to a route of text-only models: the same 400, naming the
    part; DeepSeek's deserializer takes text parts only."""
    audio: Any = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(
            model="deepseek-only", messages=[{"role": "user", "content": [{"type": "text", "text": "听"}, audio]}]
        )
    err = exc.value.body
    assert isinstance(err, dict) and err["param"] == "messages" and "type 'input_audio'" in err["message"]


async def test_text_parts_are_not_images(gw: GatewayHandle, emulator: EmulatorHandle) -> None:
    """Content as an array of text parts (even naming image_url in its text) reaches a text-only model."""
    seen = emulator.record_bodies()
    parts: Any = [{"role": "user", "content": [{"type": "text", "text": 'what is an "image_url" part?'}]}]
    reply = await gw.client().chat.completions.create(model="deepseek-only", messages=parts)
    assert reply.choices[0].message.content and len(seen) == 1 and seen[0]["messages"] == parts


async def test_a_model_whose_vision_is_not_known_gets_the_image(gw: GatewayHandle, emulator: EmulatorHandle) -> None:
    """A model the catalogue does not mark (ModelInfo.vision None) is sent the image: the vendor judges."""
    seen = emulator.record_bodies()
    reply = await gw.client().chat.completions.create(model="vision-unknown", messages=LOOK)
    assert reply.choices[0].message.content and seen[0]["model"] == "qwen-plus" and seen[0]["messages"] == LOOK


SCHEMA: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "strict": True,
        "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
}


async def test_structured_output_fails_over_past_a_json_object_only_model(
    gw: GatewayHandle, emulator: EmulatorHandle
) -> None:
    """response_format json_schema skips DeepSeek (JSON mode json_object only: its real answer is a 400 "This
    response_format type is unavailable now") and the next candidate gets the schema as it came."""
    seen = emulator.record_bodies()
    with structlog.testing.capture_logs() as logs:
        await gw.client().chat.completions.create(
            model="schema-first-deepseek",
            messages=[{"role": "user", "content": "北京 as json"}],
            response_format=SCHEMA,
        )
    assert len(seen) == 1 and seen[0]["model"] == "qwen-plus" and seen[0]["response_format"] == SCHEMA
    done = next(e for e in logs if e["event"] == "request_done")
    assert [a["result"] for a in done["attempts"]] == ["skipped:unsupported:response_format", "ok"]


async def test_structured_output_to_a_json_object_only_route_is_400_and_json_object_is_served(
    gw: GatewayHandle, emulator: EmulatorHandle
) -> None:
    """json_schema on a route of DeepSeek alone: a 400 naming 'response_format' that points to json_object, and
    nothing sent; json_object on the same route is served."""
    messages: Any = [{"role": "user", "content": "北京 as json"}]
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(model="deepseek-only", messages=messages, response_format=SCHEMA)
    err = exc.value.body
    assert isinstance(err, dict) and err["param"] == "response_format" and "json_object" in err["message"]
    assert await emulator.requests("deepseek.a") == 0
    reply = await gw.client().chat.completions.create(
        model="deepseek-only", messages=messages, response_format={"type": "json_object"}
    )
    assert reply.choices[0].message.content
