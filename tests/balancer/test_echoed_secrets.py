"""A key a client sends where none belongs (a model name, a header, an object's key, a wrong-typed field, malformed
JSON, a URL path) never comes back in the error nor reaches a log line or a transcript: real gateway, raw HTTP,
its log events captured."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from tests.balancer.test_capture import records
from tests.conftest import EmulatorHandle, GatewayFactory, GatewayHandle, auth

KEY = "sk-live-0123456789abcdefABCDEF"  # an OpenAI-style key, not one of the gateway's
PROVIDER_KEY = "cfgKEY.0123456789abcdef0123"  # ds-a's key: no sk- shape, known only from the config
TOKEN = "Bearer eyJhbGciOiJIUzI1NiJ9.0123456789abcdef"
CHAT = "/v1/chat/completions"
MESSAGES = '"messages": [{"role": "user", "content": "x"}]'


def _chat(fields: str) -> bytes:
    return ("{" + fields + "}").encode()


# name: (path, extra headers, body, status); SECRET stands for each secret in turn
CASES: dict[str, tuple[str, dict[str, str], str, int]] = {
    "model": (CHAT, {}, f'"model": "SECRET", {MESSAGES}', 404),
    "object_key_with_bad_text": (CHAT, {}, f'"model": "chat", {MESSAGES}, "keys": {{"SECRET": "\\ud800"}}', 400),
    "malformed_json": (CHAT, {}, '"model": "chat", "api_key": "SECRET", oops', 400),
    "wrong_typed_field": (CHAT, {}, f'"model": "chat", {MESSAGES}, "stream": "SECRET"', 400),
    "wrong_typed_role": (CHAT, {}, '"model": "chat", "messages": [{"role": "SECRET"}]', 400),
    "encoding_format": ("/v1/embeddings", {}, '"model": "embed", "input": "x", "encoding_format": "SECRET"', 400),
    "strategy_header": (CHAT, {"x-qiao-strategy": "SECRET"}, f'"model": "chat", {MESSAGES}', 400),
    "content_encoding": (CHAT, {"Content-Encoding": "SECRET"}, f'"model": "chat", {MESSAGES}', 415),
    "url_path": ("/v1/SECRET/chat/completions", {}, f'"model": "chat", {MESSAGES}', 404),
}


async def _transcribing(make_gateway: GatewayFactory, directory: Path) -> GatewayHandle:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["api_key"] = PROVIDER_KEY
        cfg["transcripts"] = {"directory": str(directory)}
        cfg["routes"]["chat"]["transcripts"] = True

    gw: GatewayHandle = await make_gateway(edit)
    return gw


@pytest.mark.parametrize("secret", [KEY, PROVIDER_KEY, TOKEN], ids=["sk_key", "provider_key", "bearer"])
async def test_a_misplaced_secret_is_never_echoed_nor_logged(
    make_gateway: GatewayFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture, secret: str
) -> None:
    """For each way a client can misplace a secret (an sk- key, one of the gateway's own provider keys, a bearer
    token) the gateway answers its usual OpenAI-shaped 4xx, whose message and param quote no part of the secret
    ('[redacted]' where the client's text is quoted); no log event (request_done included, aiohttp's and
    asyncio's records too) holds it, and no transcript is written for a refused request."""
    gw = await _transcribing(make_gateway, tmp_path / "t")
    shown = (secret, secret[:12], secret[-12:])
    async with aiohttp.ClientSession() as http:
        for name, (path, headers, fields, status) in CASES.items():
            body = _chat(fields.replace("SECRET", secret))
            with structlog.testing.capture_logs() as logs:
                async with http.post(
                    gw.url + path.replace("SECRET", secret.replace(" ", "%20")),
                    data=body,
                    headers={**auth(), "Content-Type": "application/json", **headers},
                ) as r:
                    reply = await r.text()
            assert r.status == status, (name, reply)
            err = json.loads(reply)["error"]
            assert err["type"] == "invalid_request_error" and len(err["message"]) > 20, (name, err)
            assert not [s for s in shown if s in reply], (name, reply)
            assert [e["event"] for e in logs].count("request_done") == 1, (name, logs)
            assert not [s for s in shown if s in repr(logs)], (name, logs)
    assert not [s for s in shown if s in caplog.text]
    await gw.gw.capture.close()
    assert records(tmp_path / "t") == []


async def test_a_served_request_quoting_no_secret_is_unchanged(gateway: GatewayHandle) -> None:
    """What is not key-shaped is quoted back as before: an unknown model's name is in its 404, words like
    'sk-learn' or 'task-12345678' too."""
    async with aiohttp.ClientSession() as http:
        for model in ("gpt-5-unknown", "sk-learn", "task-12345678"):
            body = _chat(f'"model": "{model}", {MESSAGES}')
            async with http.post(gateway.url + CHAT, data=body, headers=auth()) as r:
                err = (await r.json())["error"]
            assert r.status == 404 and f"'{model}'" in err["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_an_unreachable_upstream_is_not_named_to_the_client(make_gateway: GatewayFactory, stream: bool) -> None:
    """When the only candidate's server refuses the connection (a real closed port), the client's 502 says the
    vendor could not be reached without the OS's text, which names the upstream's address (host, port); the
    operators' upstream_failed line keeps that text."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the gateway dials it: refused

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["base_url"] = f"http://127.0.0.1:{port}/internal-path"

    gw: GatewayHandle = await make_gateway(edit)
    body = {"model": "solo", "stream": stream, "messages": [{"role": "user", "content": "x"}]}
    async with aiohttp.ClientSession() as http:
        with structlog.testing.capture_logs() as logs:
            async with http.post(gw.url + CHAT, json=body, headers=auth()) as r:
                reply = await r.text()
    assert r.status == 502 and json.loads(reply)["error"]["code"] == "connection_error", reply
    assert "could not be reached" in reply
    assert not [s for s in ("127.0.0.1", str(port), "internal-path", "Errno") if s in reply], reply
    assert any(e["event"] == "upstream_failed" and str(port) in e["message"] for e in logs)


async def test_a_vendors_masked_key_hint_is_not_forwarded(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """A vendor's 401 quoting a masked hint of the provider's key (DeepSeek's 'Your api key: ****abcd', OpenAI's
    'sk-proj-****abcd') reaches the client, after failover, with the hint '[redacted]' and the rest kept."""
    gw: GatewayHandle = await make_gateway()
    message = "Authentication Fails, Your api key: ****3750 is invalid (sk-proj-********7a2f)"
    await emulator.fault("deepseek.a", "auth", status=401, body={"error": {"message": message, "type": "auth"}})
    body = {"model": "solo", "messages": [{"role": "user", "content": "x"}]}
    async with aiohttp.ClientSession() as http, http.post(gw.url + CHAT, json=body, headers=auth()) as r:
        err = (await r.json())["error"]
    assert r.status == 502 and "Authentication Fails" in err["message"] and "[redacted]" in err["message"]
    assert "3750" not in err["message"] and "7a2f" not in err["message"]
