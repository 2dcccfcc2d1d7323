"""Text that is not valid Unicode in a request body (a JSON escape of a lone surrogate, bytes that are not
UTF-8), in any field a client sends: the gateway's own 400 naming the field, before any vendor is asked."""

from __future__ import annotations

import json

import pytest
import structlog

from tests.balancer.test_hostile import post
from tests.conftest import EmulatorHandle, GatewayHandle, raw_http

CHAT = "/v1/chat/completions"
CHAT_BODY = b'{"model":"chat","messages":[{"role":"user","content":"hi"}]}'
# Where the bad text goes ({} is a JSON string), the endpoint, and the param the 400 must name.
FIELDS = [
    (
        b'{"model":"chat","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"ok"},'
        b'{"role":"user","content":{}}]}',
        CHAT,
        "messages[2].content",
    ),
    (
        b'{"model":"chat","messages":[{"role":"user","content":[{"type":"text","text":"a"},'
        b'{"type":"text","text":{}}]}]}',
        CHAT,
        "messages[0].content[1].text",
    ),
    (
        b'{"model":"chat","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,'
        b'"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{}}}]}]}',
        CHAT,
        "messages[1].tool_calls[0].function.arguments",
    ),
    (b'{"model":"chat","messages":[{"role":"user","name":{},"content":"hi"}]}', CHAT, "messages[0].name"),
    (b'{"model":"chat","messages":[{"role":"user","content":"hi"}],"stop":["x",{}]}', CHAT, "stop[1]"),
    (
        b'{"model":"chat","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function",'
        b'"function":{"name":"f","description":{},"parameters":{"type":"object"}}}]}',
        CHAT,
        "tools[0].function.description",
    ),
    (b'{"model":"chat","messages":[{"role":"user","content":"hi"}],"user":{}}', CHAT, "user"),
    (b'{"model":{},"messages":[{"role":"user","content":"hi"}]}', CHAT, "model"),
    (b'{"model":"embed","input":["ok",{}]}', "/v1/embeddings", "input[1]"),
    (b'{"model":"embed","input":{}}', "/v1/embeddings", "input"),
]
# The bad text, as the JSON string put in a field, and whether its fault is bytes that are not UTF-8.
TEXTS = [
    (b'"a \\ud800 b"', False),  # a lone high surrogate, text after it
    (b'"a \\ud800"', False),  # a lone high surrogate at the string's end
    (b'"\\udfff"', False),  # a lone low surrogate
    (b'"\\ud800\\u0041"', False),  # a high surrogate followed by another escape that is no low one
    (b'"caf\xe9"', True),  # Latin-1, not UTF-8
    (b'"\xed\xa0\x80"', True),  # a surrogate encoded as UTF-8 bytes
    (b'"\xc0\x80"', True),  # an overlong encoding
    (b'"\xe4\xbd"', True),  # a character cut short
]


async def vendor_requests(emulator: EmulatorHandle) -> int:
    return sum(t["requests"] for t in (await emulator.stats()).values())


@pytest.mark.parametrize(("text", "not_utf8"), TEXTS, ids=[t.decode("latin-1") for t, _ in TEXTS])
@pytest.mark.parametrize(("body", "path", "param"), FIELDS, ids=[f[2] for f in FIELDS])
async def test_text_that_is_not_unicode_is_the_gateways_400_naming_the_field(
    gateway: GatewayHandle,
    emulator: EmulatorHandle,
    body: bytes,
    path: str,
    param: str,
    text: bytes,
    not_utf8: bool,
) -> None:
    """A lone surrogate escape, or bytes that are not UTF-8, in any string field of a chat or embeddings body:
    a 400 invalid_request_error (code invalid_value) from the gateway whose param and message name the field
    as OpenAI does, and say what is wrong; no vendor is asked (no attempt, nothing booked, no provider cooled),
    and exactly one request_done line is logged."""
    with structlog.testing.capture_logs() as logs:
        status, headers, reply = await raw_http(gateway.url, post(body.replace(b"{}", text), path=path))
    assert status == 400, reply
    err = json.loads(reply)["error"]
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", "invalid_value", param), err
    assert f"'{param}'" in err["message"]
    assert ("not UTF-8" if not_utf8 else "surrogate") in err["message"]
    assert await vendor_requests(emulator) == 0
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1 and done[0]["status"] == 400 and done[0]["request_id"] == headers["x-request-id"]
    assert not done[0].get("attempts") and not done[0].get("cost_cny")
    assert [e["event"] for e in logs] == ["request_done"]


async def test_a_key_that_is_not_text_is_named_by_its_object(gateway: GatewayHandle, emulator: EmulatorHandle) -> None:
    """An object key that is no text (inside a message, or at the top) is refused the same way, the message
    naming the object that holds it (the key itself is never quoted back)."""
    for body, param in (
        (b'{"model":"chat","messages":[{"role":"user","content":"hi","\\udc00":1}]}', "messages[0]"),
        (b'{"model":"chat","messages":[{"role":"user","content":"hi"}],"\xff":1}', None),
    ):
        status, _, reply = await raw_http(gateway.url, post(body))
        err = json.loads(reply)["error"]
        assert status == 400 and (err["code"], err["param"]) == ("invalid_value", param), reply
        assert "a key of" in err["message"]
    assert await vendor_requests(emulator) == 0


async def test_valid_text_of_every_plane_reaches_the_vendor_unchanged(
    gateway: GatewayHandle, emulator: EmulatorHandle
) -> None:
    """Text that is valid is served as before: a surrogate pair escape, raw UTF-8 emoji and CJK, an escaped
    NUL; the vendor receives the same text."""
    seen = emulator.record_bodies()
    content = b'"\\ud83d\\ude00 \xf0\x9f\x98\x80 \xe4\xbd\xa0\xe5\xa5\xbd \\u0000 \\u00e9"'
    body = b'{"model":"chat","messages":[{"role":"user","content":' + content + b"}]}"
    status, _, reply = await raw_http(gateway.url, post(body))
    assert status == 200, reply
    assert seen[0]["messages"][0]["content"] == "\U0001f600 \U0001f600 你好 \x00 é"


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        (CHAT_BODY[:-1] + b',"user":"\xff","user":"x"}', "The request body is not UTF-8 (byte 68)"),
        (b"\xef\xbb\xbf" + CHAT_BODY, "byte order mark"),
        (CHAT_BODY.decode().encode("utf-16"), "UTF-16"),
        (CHAT_BODY.decode().encode("utf-16-le"), "UTF-16"),
        (CHAT_BODY[:-1] + b',"temperature":NaN}', "NaN and Infinity are not JSON numbers"),
        (CHAT_BODY[:-1] + b',"top_p":-Infinity}', "NaN and Infinity are not JSON numbers"),
    ],
    ids=["in_a_duplicate_key", "utf8_bom", "utf16_bom", "utf16_no_bom", "nan", "minus_infinity"],
)
async def test_a_body_that_is_not_json_says_what_to_send(
    gateway: GatewayHandle, emulator: EmulatorHandle, body: bytes, hint: str
) -> None:
    """A body that is not UTF-8 JSON where no string can be named (in a value a later duplicate key replaces, a
    byte order mark, UTF-16) or that spells NaN or Infinity: a 400 invalid_json whose message says what to send
    instead; no vendor is asked, never a 5xx."""
    status, _, reply = await raw_http(gateway.url, post(body))
    err = json.loads(reply)["error"]
    assert status == 400 and err["code"] == "invalid_json" and hint in err["message"], reply
    assert await vendor_requests(emulator) == 0
