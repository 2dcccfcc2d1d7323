"""What the official SDKs read, exactly as OpenAI sends it, whatever the vendor behind the route: embeddings in the
encoding the client asked for, a stream's usage where the SDK reads it, a field no candidate can honour refused
rather than dropped, and a model retrieved by id. Real clients against a real gateway and the emulator."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import subprocess
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.balancer.clients.drivers import NODE_DIR
from tests.conftest import CLIENT_KEY, EmulatorHandle, GatewayFactory, auth

INPUT = ["你好", "世界"]


async def _floats(url: str) -> list[list[float]]:
    """The vectors the gateway serves as floats (OpenAI's default encoding), read without an SDK."""
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.post(url + "/v1/embeddings", json={"model": "embed", "input": INPUT}, headers=auth())
    assert r.status_code == 200, r.text
    return [d["embedding"] for d in r.json()["data"]]


def _float32(vectors: list[list[float]]) -> list[list[float]]:
    return [list(struct.unpack(f"<{len(v)}f", struct.pack(f"<{len(v)}f", *v))) for v in vectors]


async def test_node_sdk_default_embeddings_are_the_vectors_served(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """The Node SDK asks for base64 by default and decodes the string it expects: it must get the vendor's vectors
    (as float32), not zeros decoded from a JSON array of floats."""
    gw = await make_gateway()
    proc = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / "embeddings.mjs"), gw.url + "/v1", CLIENT_KEY, "embed",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out) == _float32(await _floats(gw.url))


async def test_python_sdk_base64_embeddings_decode_to_the_floats(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """encoding_format "base64" gives each vector as a base64 string of little-endian float32 (what clients decode
    with numpy); the SDK's default (base64 asked, decoded by the SDK) gives the floats; another value is a 400."""
    gw = await make_gateway()
    floats = _float32(await _floats(gw.url))
    c = gw.client()
    r = await c.embeddings.create(model="embed", input=INPUT, encoding_format="base64")
    raw = [d.embedding for d in r.data]
    assert all(isinstance(v, str) for v in raw)
    decoded = [list(struct.unpack(f"<{len(base64.b64decode(v)) // 4}f", base64.b64decode(v))) for v in raw]
    assert decoded == floats
    default = await c.embeddings.create(model="embed", input=INPUT)
    assert [d.embedding for d in default.data] == floats
    with pytest.raises(openai.BadRequestError) as e:
        await c.embeddings.create(model="embed", input=INPUT, encoding_format="hex")  # type: ignore[arg-type]
    assert e.value.code == "invalid_value" and e.value.param == "encoding_format"


async def test_kimi_stream_usage_reaches_the_sdk(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """Moonshot puts a stream's usage inside choices[0]; a client that asked stream_options.include_usage gets it as
    OpenAI sends it: a last chunk with ``choices: []`` and top-level usage, equal to what the emulator served (the
    SDK's chunk.usage and LangChain's usage_metadata read it there). The content is relayed whole."""
    gw = await make_gateway()
    c = gw.client()
    msgs: Any = [{"role": "user", "content": "流式用量"}]
    stream = await c.chat.completions.create(
        model="kimi", messages=msgs, stream=True, stream_options={"include_usage": True}
    )
    chunks = [ch async for ch in stream]
    whole = await c.chat.completions.create(model="kimi", messages=msgs)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert [ch for ch in chunks[:-1] if ch.usage is not None] == []
    served = (await emulator.stats())["kimi"]
    assert chunks[-1].usage.total_tokens * 2 == served["total_tokens"]  # the stream and the whole reply
    assert whole.usage is not None and whole.usage.total_tokens == chunks[-1].usage.total_tokens
    llm = ChatOpenAI(base_url=gw.url + "/v1", api_key=CLIENT_KEY, model="kimi", max_retries=0, stream_usage=True)
    agg: Any = None
    async for piece in llm.astream("流式用量"):
        agg = piece if agg is None else agg + piece
    assert agg.usage_metadata is not None and agg.usage_metadata["total_tokens"] == whole.usage.total_tokens


def _native(raw: dict[str, Any], emu: str) -> None:
    raw["providers"]["tg"] = {"vendor": "tiangong", "api_key": "app-key:app-secret", "base_url": f"{emu}/tiangong"}
    raw["providers"]["hn"] = {"vendor": "hunyuan-native", "api_key": "sid:skey", "base_url": f"{emu}/hunyuan-native"}
    raw["routes"]["tg"] = {"candidates": [{"provider": "tg", "model": "SkyChat-MegaVerse"}]}
    raw["routes"]["hn"] = {"candidates": [{"provider": "hn", "model": "hunyuan-turbo"}]}


@pytest.mark.parametrize("fmt", [{"type": "json_object"}, {"type": "json_schema", "json_schema": {"name": "a"}}])
async def test_json_output_no_candidate_can_give_is_refused(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, fmt: dict[str, Any]
) -> None:
    """response_format asking for JSON, on a route whose models cannot give it (Tiangong; Hunyuan's native API,
    whose mapping carries no response_format), is a 400 naming 'response_format' and no vendor call: never plain
    text where the client (``.parse()``, ``with_structured_output``) waits for JSON."""
    gw = await make_gateway(lambda raw: _native(raw, emulator.url))
    c = gw.client()
    for route in ("tg", "hn"):
        with pytest.raises(openai.BadRequestError) as e:
            await c.chat.completions.create(
                model=route,
                messages=[{"role": "user", "content": "JSON"}],
                response_format=fmt,  # type: ignore[arg-type]
            )
        assert e.value.param == "response_format", e.value
        plain = await c.chat.completions.create(model=route, messages=[{"role": "user", "content": "text"}])
        assert plain.choices[0].message.content
    stats = await emulator.stats()
    assert stats["tiangong"]["requests"] == stats["hunyuan-native"]["requests"] == 1


async def test_models_retrieve(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """``client.models.retrieve(route)`` answers the route as OpenAI's model object (as GET /v1/models lists it);
    an unknown id is a 404 model_not_found."""
    gw = await make_gateway()
    c = gw.client()
    m = await c.models.retrieve("chat")
    assert (m.id, m.object) == ("chat", "model") and isinstance(m.created, int)
    listed = {x.id: x for x in (await c.models.list()).data}
    assert listed["chat"] == m
    with pytest.raises(openai.NotFoundError) as e:
        await c.models.retrieve("no-such-route")
    assert e.value.code == "model_not_found"


def _priority(name: str, *candidates: tuple[str, str]) -> Callable[[dict[str, Any]], None]:
    """A config edit adding route ``name``: the (provider, model) candidates tried in that order."""

    def edit(raw: dict[str, Any]) -> None:
        raw["routes"][name] = {
            "strategy": "priority",
            "candidates": [{"provider": p, "model": m} for p, m in candidates],
        }

    return edit


async def test_langchain_structured_output_goes_past_a_vendor_without_named_tool_choice(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """LangChain's ``with_structured_output`` (function calling) names its tool in tool_choice; Kimi accepts none or
    auto alone, so the gateway skips it and the next candidate's tool call comes back parsed into the model."""

    class Query(BaseModel):
        query: str

    gw = await make_gateway(_priority("structured", ("kimi", "moonshot-v1-8k"), ("ds-a", "deepseek-chat")))
    seen = emulator.record_bodies()
    llm = ChatOpenAI(base_url=gw.url + "/v1", api_key=CLIENT_KEY, model="structured", max_retries=0)  # type: ignore[arg-type]
    out = await asyncio.to_thread(llm.with_structured_output(Query, method="function_calling").invoke, "北京天气")
    assert isinstance(out, Query) and out.query == "北京天气"
    assert [b["model"] for b in seen] == ["deepseek-chat"] and seen[0]["tool_choice"]["type"] == "function"


async def test_openai_parse_goes_past_a_vendor_without_structured_output(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """The openai SDK's ``chat.completions.parse`` sends response_format json_schema; DeepSeek's JSON mode is
    json_object alone, so the gateway skips it and the next candidate's answer comes back parsed (the sync SDK)."""

    class Answer(BaseModel):
        answer: str

    gw = await make_gateway(_priority("parsed", ("ds-a", "deepseek-chat"), ("qwen", "qwen-plus")))
    seen = emulator.record_bodies()
    client = gw.sync_client()
    messages: Any = [{"role": "user", "content": "用 JSON 回答"}]
    done = await asyncio.to_thread(
        client.chat.completions.parse, model="parsed", messages=messages, response_format=Answer
    )
    assert isinstance(done.choices[0].message.parsed, Answer)
    assert [b["model"] for b in seen] == ["qwen-plus"] and seen[0]["response_format"]["type"] == "json_schema"
