"""Upstream error bodies that echo a configured secret: scrubbed before they reach the client or a log line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
import structlog
from aiohttp import web

from tests.conftest import CHAT, EmulatorHandle, GatewayFactory, auth, start_site

KEY = "sk-upstream-0123456789abcdef"
SIGNING = "sign-secret-0011223344"
COMPOSITE_SECRET = "SECRETPART98765"  # the secret half of an "id.secret" key (GLM's form)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJhcGlfa2V5IjoiMSJ9.c2lnbmF0dXJlMTIz"
ECHO = f"proxy refused: Authorization: Bearer {KEY}; sign={SIGNING}; id.secret=..{COMPOSITE_SECRET}"
SECRETS = (KEY, SIGNING, COMPOSITE_SECRET, JWT)


def with_secrets(cfg: dict[str, Any]) -> None:
    cfg["providers"]["ds-a"]["api_key"] = KEY
    cfg["providers"]["ds-a"]["extra"] = {"signing_secret": SIGNING}
    cfg["providers"]["ds-b"]["api_key"] = f"appid01234567.{COMPOSITE_SECRET}"


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize(
    ("fault", "status"), [("bad_request", 400), ("server_error", 502)], ids=["refused", "failed_over_then_exhausted"]
)
async def test_echoed_secrets_are_scrubbed_from_error_replies_and_logs(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession, fault: str, status: int
) -> None:
    """An upstream error whose message echoes the provider's key, a secret from its extra settings and another
    provider's composite-key secret reaches the client as '[redacted]' (the rest of the message kept), and
    no log line holds any of them."""
    gw = await make_gateway(with_secrets)
    body = {"error": {"message": ECHO, "type": "invalid_request_error", "code": "invalid_parameter"}}
    await emulator.fault("deepseek.a", fault, body=body, status=400 if fault == "bad_request" else 500)
    with structlog.testing.capture_logs() as logs:
        async with http.post(gw.url + "/v1/chat/completions", json={**CHAT, "model": "solo"}, headers=auth()) as r:
            assert r.status == status
            message = (await r.json())["error"]["message"]
    assert "proxy refused" in message and "[redacted]" in message
    assert_clean(message)
    assert_clean(repr(logs))
    assert any(e["event"] == "upstream_failed" and "[redacted]" in e["message"] for e in logs)


@pytest.fixture
async def echoing_upstream() -> AsyncIterator[str]:
    """A vendor (behind a proxy) that streams one chunk, then an error chunk echoing the request's
    credentials: a JWT and the secret half of the account's key."""

    async def chat(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n')
        error = f'{{"error":{{"message":"proxy: Bearer {JWT} key ..{COMPOSITE_SECRET}","type":"server_error"}}}}'
        await resp.write(b"data: " + error.encode() + b"\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner, url = await start_site(app)
    yield url
    await runner.cleanup()


async def test_mid_stream_error_event_is_scrubbed(
    make_gateway: GatewayFactory, echoing_upstream: str, http: aiohttp.ClientSession
) -> None:
    """A stream that fails after its first chunk with an error echoing a JWT and a key's secret half ends with
    an error event and a stream_failed line that hold neither."""

    def edit(cfg: dict[str, Any]) -> None:
        with_secrets(cfg)
        cfg["providers"]["echo"] = {
            "vendor": "deepseek",
            "api_key": f"appid01234567.{COMPOSITE_SECRET}",
            "base_url": echoing_upstream + "/v1",
        }
        cfg["routes"]["echo"] = {"candidates": [{"provider": "echo", "model": "deepseek-chat"}]}

    gw = await make_gateway(edit)
    with structlog.testing.capture_logs() as logs:
        body = {**CHAT, "model": "echo", "stream": True}
        async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
            text = (await r.read()).decode()
    assert '"content":"hi"' in text and "proxy: [redacted] key ..[redacted]" in text
    assert_clean(text)
    assert_clean(repr(logs))
    assert any(e["event"] == "stream_failed" for e in logs)


HTML_502 = (
    "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>\n<TITLE>502 Bad Gateway &amp; more: upstream "
    f"{KEY} unreachable</TITLE></head>\n<body><h1>502</h1><p>nginx internal: 10.0.0.7 {SIGNING}</p></body></html>"
)
TEXT_503 = f"upstream overloaded, try later (key {KEY})\nstack: at Worker.run 10.0.0.7 {SIGNING}\n"
NOT_JSON = {
    "html_502": (502, "text/html; charset=utf-8", HTML_502, "502 Bad Gateway & more: upstream [redacted] unreachable"),
    "text_503": (503, "text/plain", TEXT_503, "upstream overloaded, try later (key [redacted])"),
    "long_text_503": (503, "text/plain", "x" * 5000, "x" * 200),
}


@pytest.fixture
async def proxy_upstream() -> AsyncIterator[str]:
    """A proxy in front of a vendor answering ``/<case>/chat/completions`` with the case's non-JSON error page."""

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        status, ctype, body, _ = NOT_JSON[request.match_info["case"]]
        return web.Response(status=status, body=body.encode(), headers={"Content-Type": ctype})

    app = web.Application()
    app.router.add_post("/{case}/chat/completions", chat)
    runner, url = await start_site(app)
    yield url
    await runner.cleanup()


@pytest.mark.parametrize("case", list(NOT_JSON))
@pytest.mark.parametrize("stream", [False, True], ids=["reply", "stream"])
async def test_non_json_error_page_gives_the_client_a_short_scrubbed_excerpt(
    make_gateway: GatewayFactory, proxy_upstream: str, case: str, stream: bool
) -> None:
    """An error reply that is no JSON (a proxy's HTML 502 page, a plain-text 503) tells an openai SDK client what
    the upstream said — the HTML page's <title>, the text's first line (at most 200 characters) — with configured
    secrets scrubbed and nothing else of the body (before: the message said only the failure class)."""

    def edit(cfg: dict[str, Any]) -> None:
        with_secrets(cfg)
        cfg["providers"]["ds-a"]["base_url"] = f"{proxy_upstream}/{case}"

    gw = await make_gateway(edit)
    with structlog.testing.capture_logs() as logs, pytest.raises(openai.APIStatusError) as err:
        await gw.client().chat.completions.create(**{**CHAT, "model": "solo", "stream": stream})
    message = err.value.message
    assert NOT_JSON[case][3] in message, message
    assert "10.0.0.7" not in message and "<" not in message and "x" * 201 not in message, message
    assert_clean(message)
    assert_clean(repr(logs))
