"""The OpenAI-compatible surface, driven by the real openai SDK and raw HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import openai
import pytest

from tests.conftest import CHAT, CLIENT_KEY, EmulatorHandle, GatewayHandle, auth


async def test_chat_completion_through_sdk(gateway: GatewayHandle, emulator: EmulatorHandle) -> None:
    """A plain chat completion is served by the first candidate, with usage, through the async SDK."""
    resp = await gateway.client().chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "你好，世界！"}]
    )
    completion = resp.parse()
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert resp.headers["x-qiao-provider"] == "ds-a"
    assert resp.headers["x-qiao-model"] == "deepseek-chat"
    assert resp.headers["x-qiao-attempts"] == "1"
    assert float(resp.headers["x-qiao-overhead-ms"]) >= 0
    assert resp.headers["x-request-id"].startswith("req_")
    assert await emulator.requests("deepseek.a") == 1


async def test_sync_sdk_in_thread(gateway: GatewayHandle) -> None:
    """The synchronous openai client (run in a worker thread) gets a completion through the gateway."""
    import asyncio

    def call() -> str:
        c = gateway.sync_client().chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
        return c.choices[0].message.content or ""

    assert await asyncio.to_thread(call)


async def test_streaming_with_usage(gateway: GatewayHandle) -> None:
    """A stream arrives chunk by chunk and, with include_usage, ends with a usage chunk."""
    stream = await gateway.client().chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "讲个故事。"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    assert text
    assert usage is not None and usage.completion_tokens == 8


async def test_stream_without_include_usage_hides_gateway_usage_chunk(gateway: GatewayHandle) -> None:
    """The gateway asks vendors for usage, but a client that did not ask never sees the extra chunk."""
    stream = await gateway.client().chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [c async for c in stream]
    assert chunks and all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


async def test_tools_round_trip(gateway: GatewayHandle) -> None:
    """Tool definitions are forwarded; the tool call comes back; a tool result gets a text answer."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    client = gateway.client()
    first = await client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "北京天气？"}],
        tools=tools,  # type: ignore[arg-type]
    )
    call = first.choices[0].message.tool_calls
    assert call and call[0].function.name == "get_weather"
    assert first.choices[0].finish_reason == "tool_calls"
    second = await client.chat.completions.create(
        model="chat",
        tools=tools,  # type: ignore[arg-type]
        messages=[
            {"role": "user", "content": "北京天气？"},
            {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in call]},  # type: ignore[misc]
            {"role": "tool", "tool_call_id": call[0].id, "content": "晴，25°C"},
        ],
    )
    assert second.choices[0].message.content


async def test_streamed_tool_call(gateway: GatewayHandle) -> None:
    """A streamed tool call arrives as tool_calls deltas."""
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    stream = await gateway.client().chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "查一下"}],
        tools=tools,
        stream=True,  # type: ignore[arg-type]
    )
    names = [
        tc.function.name
        async for c in stream
        for tc in (c.choices[0].delta.tool_calls or [])
        if c.choices and tc.function
    ]
    assert names == ["lookup"]


async def test_response_format_and_multimodal_pass_through(gateway: GatewayHandle, emulator: EmulatorHandle) -> None:
    """response_format and image content parts reach the vendor unchanged; JSON mode yields JSON."""
    content = [
        {"type": "text", "text": "这是什么？"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    c = await gateway.client().chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": content}],  # type: ignore[list-item,misc]
        response_format={"type": "json_object"},
    )
    assert "answer" in json.loads(c.choices[0].message.content or "{}")


async def test_unknown_fields_are_forwarded(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A field the gateway does not know is forwarded byte-for-byte, not dropped."""
    seen = emulator.record_bodies()
    body = {**CHAT, "future_field": {"x": [1, "二"]}, "user": "u-1"}
    async with http.post(gateway.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        assert r.status == 200
    assert seen[0]["future_field"] == {"x": [1, "二"]}
    assert seen[0]["user"] == "u-1"
    assert seen[0]["model"] == "deepseek-chat"


async def test_embeddings(gateway: GatewayHandle) -> None:
    """An embeddings route answers with vectors through the SDK."""
    e = await gateway.client().embeddings.create(model="embed", input=["你好", "world"])
    assert len(e.data) == 2 and len(e.data[0].embedding) == 8


async def test_models_lists_allowed_routes(make_gateway, http: aiohttp.ClientSession) -> None:  # type: ignore[no-untyped-def]
    """GET /v1/models lists only the routes the key may use."""
    from balancer.config import hash_key

    def edit(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["client_keys"].append({"name": "limited", "key_sha256": hash_key("sk-limited"), "routes": ["solo"]})

    gw = await make_gateway(edit)
    ids = [m.id async for m in gw.client().models.list()]
    assert set(ids) == {"chat", "solo", "kimi", "embed"}
    limited = [m.id async for m in gw.client("sk-limited").models.list()]
    assert limited == ["solo"]
    with pytest.raises(openai.NotFoundError):
        await gw.client("sk-limited").chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])


async def test_health_and_ready(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """/healthz says alive; /readyz says the config is loaded and the state store is reachable."""
    async with http.get(gateway.url + "/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"
    async with http.get(gateway.url + "/readyz") as r:
        body = await r.json()
        assert r.status == 200 and body["status"] == "ready" and body["state_store"]["backend"] == "memory"


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (b"{not json", 400, "invalid_json", None),
        (b"[1, 2]", 400, "invalid_json", None),
        (b"", 400, "invalid_json", None),
        (b'{"model": 5, "messages": []}', 400, "invalid_type", "model"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "missing_required_parameter", "model"),
        (b'{"model": "chat", "messages": "hi"}', 400, "invalid_type", "messages"),
        (b'{"model": "chat", "messages": []}', 400, "missing_required_parameter", "messages"),
        (
            b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
            400,
            "invalid_type",
            "stream",
        ),
        (
            b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}',
            400,
            "invalid_type",
            "max_tokens",
        ),
        (
            b'{"model": "chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
            400,
            "integer_below_min_value",
            "max_tokens",
        ),
        (b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404, "model_not_found", "model"),
        (b'{"model": "embed", "messages": [{"role": "user", "content": "x"}]}', 400, "wrong_endpoint", "model"),
    ],
)
async def test_bad_input_gets_openai_errors(
    gateway: GatewayHandle, http: aiohttp.ClientSession, body: bytes, status: int, code: str, param: str | None
) -> None:
    """Malformed or ill-typed requests get an OpenAI-shaped error naming the parameter, never a traceback."""
    headers = {**auth(), "Content-Type": "application/json"}
    async with http.post(gateway.url + "/v1/chat/completions", data=body, headers=headers) as r:
        assert r.status == status
        err = (await r.json())["error"]
        assert err["code"] == code and err["param"] == param and err["message"] and err["type"]
        assert r.headers["x-request-id"]


async def test_missing_and_wrong_keys_are_401(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """No key or a wrong key is an OpenAI-style 401 (the SDK raises AuthenticationError)."""
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT) as r:
        assert r.status == 401 and (await r.json())["error"]["code"] == "missing_api_key"
    with pytest.raises(openai.AuthenticationError) as exc:
        await gateway.client("sk-wrong-key-123456").chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert "sk-wrong-key" not in str(exc.value)


async def test_oversized_body_is_413(make_gateway, http: aiohttp.ClientSession) -> None:  # type: ignore[no-untyped-def]
    """A body over server.max_body_bytes is refused with an OpenAI-style 413."""

    def edit(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["server"] = {"max_body_bytes": 1024}

    gw = await make_gateway(edit)
    big = {**CHAT, "messages": [{"role": "user", "content": "字" * 2000}]}
    async with http.post(gw.url + "/v1/chat/completions", json=big, headers=auth()) as r:
        assert r.status == 413
        err = (await r.json())["error"]
        assert err["code"] == "request_too_large" and "1024" in err["message"]


async def test_a_content_length_over_the_limit_is_413_at_once(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """A Content-Length over server.max_body_bytes is refused with the 413 before any of the body is waited for
    (not a 408 after body_timeout_s saying the body did not arrive)."""

    def edit(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["server"] = {"max_body_bytes": 1024, "body_timeout_s": 20}

    gw = await make_gateway(edit)
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\n"
    host, port = gw.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    t0 = time.monotonic()
    writer.write(head.encode() + b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{")
    try:  # the answer comes at once (the connection then lingers a while, as aiohttp drains a refused body)
        reply = await asyncio.wait_for(reader.readuntil(b"}}"), 10)
    finally:
        writer.close()
    assert reply.startswith(b"HTTP/1.1 413") and time.monotonic() - t0 < 5
    err = json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]
    assert err["code"] == "request_too_large" and "1024" in err["message"]


async def test_unknown_path_is_openai_404(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """An unknown path answers an OpenAI-shaped 404, not an HTML page."""
    async with http.get(gateway.url + "/v1/nothing", headers=auth()) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_request_id_is_echoed(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """A client's x-request-id is kept and returned."""
    async with http.post(
        gateway.url + "/v1/chat/completions", json=CHAT, headers={**auth(), "x-request-id": "abc-123"}
    ) as r:
        assert r.status == 200 and r.headers["x-request-id"] == "abc-123"


async def test_unknown_strategy_header_is_400(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """An unknown x-qiao-strategy override is rejected clearly."""
    async with http.post(
        gateway.url + "/v1/chat/completions", json=CHAT, headers={**auth(), "x-qiao-strategy": "magic"}
    ) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_strategy"
