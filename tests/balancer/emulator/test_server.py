"""The vendor emulator: dialects, faults, limits, balance and stats over its HTTP control API."""

from __future__ import annotations

import asyncio

import aiohttp

from balancer.emulator import count_tokens
from tests.conftest import EmulatorHandle

MSG = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "你好，世界！hello"}]}
KEY = {"Authorization": "Bearer sk-x"}


async def test_deterministic_reply_with_correct_usage(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """The same prompt gets the same reply; usage follows the emulator's tokenizer."""
    replies = []
    for _ in range(2):
        async with http.post(emulator.url + "/deepseek/chat/completions", json=MSG, headers=KEY) as r:
            replies.append(await r.json())
    assert replies[0]["choices"] == replies[1]["choices"]
    assert replies[0]["usage"]["prompt_tokens"] == 4 + count_tokens("你好，世界！hello")
    assert count_tokens("你好，世界！hello") == 6 + 2


async def test_vendor_auth_body(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """Without a key (or with the wrong registered key) the vendor's own 401 body comes back."""
    async with http.post(emulator.url + "/glm/chat/completions", json=MSG) as r:
        assert r.status == 401 and (await r.json())["error"]["code"] == "1002"
    async with http.post(emulator.url + "/_emulator/keys", json={"target": "glm", "key": "good.key"}) as r:
        assert r.status == 200
    async with http.post(
        emulator.url + "/glm/chat/completions", json=MSG, headers={"Authorization": "Bearer bad"}
    ) as r:
        assert r.status == 401
    async with http.post(
        emulator.url + "/glm/chat/completions", json=MSG, headers={"Authorization": "Bearer good.key"}
    ) as r:
        assert r.status == 200


async def test_faults_probability_count_and_clear(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """A fault with count applies that many times; DELETE clears; stats count faults and tokens."""
    await emulator.fault("qwen", "rate_limit", count=2)
    statuses = []
    for _ in range(3):
        async with http.post(emulator.url + "/qwen/chat/completions", json=MSG, headers=KEY) as r:
            statuses.append(r.status)
            body = await r.json()
    assert statuses == [429, 429, 200] and body["usage"]["total_tokens"] > 0
    stats = (await emulator.stats())["qwen"]
    assert stats["requests"] == 3 and stats["served"] == 1 and stats["faults"] == {"rate_limit": 2}
    assert stats["total_tokens"] == body["usage"]["total_tokens"]
    await emulator.fault("qwen", "server_error", probability=0.0)
    async with http.post(emulator.url + "/qwen/chat/completions", json=MSG, headers=KEY) as r:
        assert r.status == 200


async def test_bad_control_request(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """An unknown fault name is refused with 400."""
    async with http.post(emulator.url + "/_emulator/faults", json={"target": "qwen", "fault": "gremlins"}) as r:
        assert r.status == 400


async def test_rpm_tpm_and_balance_limits(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """The emulator enforces RPM and a token balance with the vendor's own error bodies."""
    await emulator.limits("kimi", rpm=2)
    statuses = []
    for _ in range(3):
        async with http.post(emulator.url + "/kimi/chat/completions", json=MSG, headers=KEY) as r:
            statuses.append(r.status)
            body = await r.json()
    assert statuses == [200, 200, 429] and body["error"]["type"] == "rate_limit_reached_error"
    await emulator.limits("deepseek", balance_tokens=30)
    statuses = []
    for _ in range(3):
        async with http.post(emulator.url + "/deepseek/chat/completions", json=MSG, headers=KEY) as r:
            statuses.append(r.status)
    assert statuses == [200, 200, 402]
    async with http.get(emulator.url + "/deepseek/user/balance", headers=KEY) as r:
        assert (await r.json())["is_available"] is False


async def test_balance_endpoint(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """The balance endpoint answers in the vendor's shape with the configured granted/paid money."""
    await emulator.limits("kimi", granted=5.0, paid=20.0)
    async with http.get(emulator.url + "/kimi/users/me/balance", headers=KEY) as r:
        data = (await r.json())["data"]
    assert data == {"available_balance": 25.0, "voucher_balance": 5.0, "cash_balance": 20.0}


async def test_unknown_vendor_is_404(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """A path prefix that names no vendor is a 404."""
    async with http.post(emulator.url + "/nosuch/chat/completions", json=MSG, headers=KEY) as r:
        assert r.status == 404


async def test_custom_fault_replays_a_body_byte_for_byte(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """fault 'custom' answers exactly the given status, headers and raw body (not JSON-encoded again), once per
    count, then the vendor answers normally."""
    raw = '{"error":{"code":"1112","message":"您的账户已被锁定，请联系客服解锁"}}'
    await emulator.fault("glm", "custom", status=429, headers={"Retry-After": "7"}, body=raw, count=1)
    async with http.post(emulator.url + "/glm/chat/completions", json=MSG, headers=KEY) as r:
        assert r.status == 429 and r.headers["Retry-After"] == "7"
        assert r.headers["Content-Type"].startswith("application/json") and await r.read() == raw.encode()
    await emulator.fault("glm", "custom", status=502, headers={"Content-Type": "text/plain"}, body="bad gateway\n")
    async with http.post(emulator.url + "/glm/chat/completions", json=MSG, headers=KEY) as r:
        assert r.status == 502 and r.headers["Content-Type"] == "text/plain" and await r.text() == "bad gateway\n"
    await emulator.clear()
    async with http.post(emulator.url + "/glm/chat/completions", json=MSG, headers=KEY) as r:
        assert r.status == 200
    assert (await emulator.stats())["glm"]["faults"] == {"custom": 2}


async def test_custom_fault_replays_sse_lines_in_order(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """fault 'custom' with events sends the raw SSE lines in order, each ended by a blank line, latency_ms apart."""
    events = [": keep-alive", 'data: {"choices":[{"index":0,"delta":{"content":"你好"}}]}', "data: [DONE]"]
    await emulator.fault("deepseek", "custom", events=events, latency_ms=40, count=1)
    t0 = asyncio.get_running_loop().time()
    async with http.post(emulator.url + "/deepseek/chat/completions", json=MSG, headers=KEY) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"
        body = await r.read()
    assert asyncio.get_running_loop().time() - t0 >= 0.08
    assert body == "".join(e + "\n\n" for e in events).encode()


async def test_error_fault_with_a_raw_body(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """An error fault's body override may be raw text: it is sent as given, with the fault's status."""
    await emulator.fault("kimi", "rate_limit", body="<html>429</html>", status=429, count=1)
    async with http.post(emulator.url + "/kimi/chat/completions", json=MSG, headers=KEY) as r:
        assert r.status == 429 and await r.text() == "<html>429</html>"


async def test_a_body_the_vendor_cannot_parse_is_its_400(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """A body a vendor's JSON parser refuses (invalid UTF-8 in a message, a number past float range, not an
    object) gets the dialect's 400 for a bad request, as a real vendor answers, never a 500 with a traceback."""
    bodies = [
        b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "\\xed\\xa0\\x80"}]}'.replace(
            b"\\xed\\xa0\\x80", b"\xed\xa0\x80"
        ),
        b'{"model": "deepseek-chat", "seed": 1e400, "messages": [{"role": "user", "content": "hi"}]}',
        b"[1, 2]",
    ]
    for raw in bodies:
        async with http.post(emulator.url + "/qwen/chat/completions", data=raw, headers=KEY) as r:
            assert r.status == 400, raw
            assert (await r.json())["error"]["type"] == "invalid_request_error"


async def test_an_image_to_a_text_only_model_is_the_vendors_400(
    emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """An image part to a model the catalogue marks text-only gets the vendor's own 400 (DeepSeek's "unknown
    variant `image_url`"); the same message to a vision model, or text parts to the text model, are answered."""
    parts = [
        {"type": "text", "text": "看图"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
    ]
    look = {"model": "deepseek-chat", "messages": [{"role": "user", "content": parts}]}
    async with http.post(emulator.url + "/deepseek/chat/completions", json=look, headers=KEY) as r:
        assert r.status == 400
        assert "unknown variant `image_url`, expected `text`" in (await r.json())["error"]["message"]
    async with http.post(
        emulator.url + "/qwen/chat/completions", json={**look, "model": "qwen-vl-max"}, headers=KEY
    ) as r:
        assert r.status == 200
    text = {"model": "deepseek-chat", "messages": [{"role": "user", "content": parts[:1]}]}
    async with http.post(emulator.url + "/deepseek/chat/completions", json=text, headers=KEY) as r:
        assert r.status == 200


async def test_json_schema_to_a_json_object_only_model_is_the_vendors_400(
    emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """response_format json_schema to a model the catalogue marks without structured output gets the vendor's 400
    (DeepSeek's "This response_format type is unavailable now"); json_object to it is answered."""
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    async with http.post(
        emulator.url + "/deepseek/chat/completions", json={**MSG, "response_format": fmt}, headers=KEY
    ) as r:
        assert (
            r.status == 400 and (await r.json())["error"]["message"] == "This response_format type is unavailable now"
        )
    obj = {**MSG, "response_format": {"type": "json_object"}}
    async with http.post(emulator.url + "/deepseek/chat/completions", json=obj, headers=KEY) as r:
        assert r.status == 200


async def test_max_completion_tokens_is_honoured_where_the_vendor_knows_it(
    emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """max_completion_tokens limits the reply of a vendor that knows it (Qwen here) and not DeepSeek's, which knows
    max_tokens alone (``Dialect.ignores_max_completion_tokens``); max_tokens limits both."""
    usage = {}
    for target, field in (
        ("qwen", "max_completion_tokens"),
        ("deepseek", "max_completion_tokens"),
        ("deepseek", "max_tokens"),
    ):
        async with http.post(emulator.url + f"/{target}/chat/completions", json={**MSG, field: 2}, headers=KEY) as r:
            usage[target, field] = (await r.json())["usage"]["completion_tokens"]
    assert usage["qwen", "max_completion_tokens"] == 2 and usage["deepseek", "max_tokens"] == 2
    assert usage["deepseek", "max_completion_tokens"] > 2


async def test_a_model_with_one_temperature_refuses_another(
    emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """kimi-k2.6 answers Kimi's 400 "invalid temperature: only 1 is allowed for this model" to 0.7, and serves 1 or
    no temperature at all."""
    k26 = {**MSG, "model": "kimi-k2.6"}
    async with http.post(emulator.url + "/kimi/chat/completions", json={**k26, "temperature": 0.7}, headers=KEY) as r:
        assert r.status == 400 and "only 1 is allowed" in (await r.json())["error"]["message"]
    for body in ({**k26, "temperature": 1}, k26):
        async with http.post(emulator.url + "/kimi/chat/completions", json=body, headers=KEY) as r:
            assert r.status == 200


async def test_audio_to_a_text_only_model_is_refused_too(emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """Any part that is not text (here audio) to a text-only model gets the dialect's text-only 400, as DeepSeek's
    deserializer takes text parts alone."""
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": [audio]}]}
    async with http.post(emulator.url + "/deepseek/chat/completions", json=body, headers=KEY) as r:
        assert r.status == 400


async def test_hunyuan_refuses_turns_that_do_not_alternate(
    emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Two user turns in a row get Hunyuan's 400 1001; alternating turns, with tool results in a row, are served."""
    two = {"model": "hunyuan-turbo", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}
    async with http.post(emulator.url + "/hunyuan/chat/completions", json=two, headers=KEY) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "1001"
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    turns = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c", "content": "1"},
        {"role": "tool", "tool_call_id": "c", "content": "2"},
    ]
    async with http.post(emulator.url + "/hunyuan/chat/completions", json={**two, "messages": turns}, headers=KEY) as r:
        assert r.status == 200
