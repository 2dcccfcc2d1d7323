"""Hostile or odd input that parses as HTTP: a clean OpenAI-style 4xx and one request_done line, never a 5xx."""

from __future__ import annotations

import gzip
import json

import pytest
import structlog

from tests.conftest import CLIENT_KEY, GatewayHandle, raw_http

CHAT = b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}'


def post(
    body: bytes, *, path: str = "/v1/chat/completions", key: bytes = CLIENT_KEY.encode(), extra: bytes = b""
) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".encode()
        + b"Authorization: Bearer "
        + key
        + f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


DEEP = b"[" * 5000 + b"]" * 5000
CASES = [
    (
        "deep_json_in_messages",
        post(b'{"model": "chat", "messages": [{"role": "user", "content": ' + DEEP + b"}]}"),
        400,
        "invalid_json",
        None,
    ),
    ("deep_json_object", post(b'{"a": ' * 3000 + b"1" + b"}" * 3000), 400, "invalid_json", None),
    (
        "deep_json_embeddings",
        post(b'{"model": "embed", "input": ' + DEEP + b"}", path="/v1/embeddings"),
        400,
        "invalid_json",
        None,
    ),
    (
        "invalid_utf8_in_model",
        post(b'{"model": "ch\xffat", "messages": [{"role": "user", "content": "x"}]}'),
        400,
        "invalid_value",
        "model",
    ),
    ("non_utf8_authorization", post(CHAT, key=b"\xff\xfe\x80sk-abc\xc3"), 401, "invalid_api_key", None),
    (
        "gzip_header_plain_body",
        post(CHAT, extra=b"Content-Encoding: gzip\r\n"),
        415,
        "unsupported_content_encoding",
        None,
    ),
    (
        "gzip_body",
        post(gzip.compress(CHAT), extra=b"Content-Encoding: gzip\r\n"),
        415,
        "unsupported_content_encoding",
        None,
    ),
    ("unknown_encoding", post(CHAT, extra=b"Content-Encoding: zz-top\r\n"), 415, "unsupported_content_encoding", None),
    ("non_utf8_strategy", post(CHAT, extra=b"x-qiao-strategy: \xff\xfe\r\n"), 400, "invalid_strategy", None),
]


@pytest.mark.parametrize(("name", "data", "status", "code", "param"), CASES, ids=[c[0] for c in CASES])
async def test_hostile_input_gets_a_clean_4xx(
    gateway: GatewayHandle, name: str, data: bytes, status: int, code: str, param: str | None
) -> None:
    """Each input is answered with its 4xx as OpenAI's {"error": {...}} (type, code, param, a message) and
    logged by exactly one request_done line with that status; nothing is logged as an unhandled error."""
    with structlog.testing.capture_logs() as logs:
        got, headers, body = await raw_http(gateway.url, data)
    assert got == status, body
    err = json.loads(body)["error"]
    assert (err["code"], err["param"], err["type"]) == (code, param, "invalid_request_error")
    assert len(err["message"]) > 20
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1 and done[0]["status"] == status and done[0]["request_id"] == headers["x-request-id"]
    assert not [e for e in logs if e["event"] == "unhandled_error"]


async def test_identity_encoding_is_served(gateway: GatewayHandle) -> None:
    """'Content-Encoding: identity' is no encoding at all: the request is served."""
    status, _, body = await raw_http(gateway.url, post(CHAT, extra=b"Content-Encoding: identity\r\n"))
    assert status == 200 and json.loads(body)["choices"]


async def test_request_id_header_must_be_printable_ascii(gateway: GatewayHandle) -> None:
    """A client x-request-id that is not printable ASCII (UTF-8 text, stray bytes) is replaced by the
    gateway's own id, never echoed into a response header."""
    for rid in ("请求-1".encode(), b"abc\xff\xfe"):
        status, headers, _ = await raw_http(gateway.url, post(CHAT, extra=b"x-request-id: " + rid + b"\r\n"))
        assert status == 200 and headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("key", ["sk-wrong-key-0123456789", "sk-Q", "sk-" + "k" * 8000])
async def test_a_wrong_key_is_never_echoed(gateway: GatewayHandle, key: str) -> None:
    """A wrong API key (short, long, anything) gets a 401 that quotes no part of it, not even OpenAI's
    'sk-ab***yz' hint: a 401 body lands in client logs and screenshots."""
    status, _, body = await raw_http(gateway.url, post(CHAT, key=key.encode()))
    err = json.loads(body)["error"]
    assert status == 401 and err["code"] == "invalid_api_key"
    for part in (key[:4], key[-2:], "***"):
        assert part not in err["message"]


async def test_an_idempotency_key_that_is_not_utf8_is_honoured(gateway: GatewayHandle) -> None:
    """An Idempotency-Key made of bytes that are not UTF-8 (or UTF-8 text) is a key like any: the request is
    served, and its repeat is replayed; never a 500. With a key that is not valid either, the answer is the 401."""
    for idem in (b"\xff\xfe\xe4\xbd\xa0-1", "重试-1".encode()):
        extra = b"Idempotency-Key: " + idem + b"\r\n"
        status, _, body = await raw_http(gateway.url, post(CHAT, extra=extra))
        assert status == 200 and json.loads(body)["choices"], body
        status, again, _ = await raw_http(gateway.url, post(CHAT, extra=extra))
        assert status == 200 and again.get("x-qiao-idempotent-replay") == "true"
    extra = b"Idempotency-Key: \xff\xfe\r\n"
    status, _, body = await raw_http(gateway.url, post(CHAT, key=b"\xff\xfe\x80sk-abc", extra=extra))
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
