"""Transcripts of deeply nested JSON: JSON held in a string (a message, a tool call's arguments) and an upstream's
reply nested hundreds of levels are recorded with their secrets and PII removed, and a record that cannot be
written is logged with its request id. Before, redaction recursed a few frames a level: from about 250 levels
the record was lost, counted as an error or not counted at all, with no log line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from balancer.redact import strip_secrets, strip_text
from balancer.transcripts import TranscriptWriter
from tests.balancer.test_capture import records
from tests.balancer.test_transcripts import read_all, record
from tests.conftest import CHAT, GatewayFactory, auth, start_site

PROVIDER_KEY = "sk-deep-provider-key-0123456789"


def nested(levels: int, inner: str) -> str:
    """JSON text: ``inner`` (an object's entries) inside ``levels`` objects (two of every three) and arrays."""
    opens = "".join('{"a": ' if i % 3 else "[" for i in range(levels))
    closes = "".join("}" if i % 3 else "]" for i in reversed(range(levels)))
    return opens + "{" + inner + "}" + closes


SECRETS = '"password": "hunter2-deep", "api_key": {"v": "sk-inner"}, "tel": "13800138000", "keep": "北京"'


async def _capture(make_gateway: GatewayFactory, directory: Path, base_url: str | None = None, **settings: Any) -> Any:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["transcripts"] = {"directory": str(directory), **settings}
        cfg["routes"]["chat"]["transcripts"] = True
        cfg["providers"]["ds-a"]["api_key"] = PROVIDER_KEY
        if base_url is not None:
            cfg["providers"]["ds-a"]["base_url"] = base_url
            cfg["routes"]["chat"]["candidates"] = [{"provider": "ds-a", "model": "deepseek-chat"}]

    return await make_gateway(edit)


@pytest.mark.parametrize("scrub_pii", [False, True])
async def test_strings_holding_deeply_nested_json_are_recorded_without_secrets(
    tmp_path: Path, make_gateway: GatewayFactory, http: aiohttp.ClientSession, scrub_pii: bool
) -> None:
    """A request whose message and tool call arguments hold JSON nested 300 levels (readable JSON) and 2,000
    levels (deeper than any decoder here reads) is recorded: no error, no ``transcript_record_failed``; the
    secret-named values and the provider key pasted in are gone at every depth, the 300-level string still
    parses, and with ``scrub_pii`` the phone number is replaced while other text is kept."""
    directory = tmp_path / "transcripts"
    gw = await _capture(make_gateway, directory, scrub_pii=scrub_pii)
    args = nested(300, SECRETS + f', "pasted": "{PROVIDER_KEY}"')
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}
    messages = [
        {"role": "user", "content": nested(2000, SECRETS)},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    with structlog.testing.capture_logs() as logs:
        async with http.post(gw.url + "/v1/chat/completions", json={**CHAT, "messages": messages}, headers=auth()) as r:
            assert r.status == 200
        await gw.gw.capture.close()
    assert gw.gw.capture.writer.errors == 0
    assert "transcript_record_failed" not in [e["event"] for e in logs]
    (rec,) = records(directory)
    sent = rec["request"]["messages"]
    for text in (sent[0]["content"], sent[1]["tool_calls"][0]["function"]["arguments"]):
        assert "hunter2-deep" not in text and "sk-inner" not in text and PROVIDER_KEY not in text
        assert '"api_key": {}' in text and "北京" in text
        assert ("13800138000" not in text and "[PHONE]" in text) if scrub_pii else "13800138000" in text
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"])  # still JSON


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_reply_nested_deeply_is_recorded_without_secrets(
    tmp_path: Path, make_gateway: GatewayFactory, http: aiohttp.ClientSession, stream: bool
) -> None:
    """An upstream answering with a message nested 800 levels (a field of its own, or tool call arguments in a
    stream) is recorded, its secret-named values and the provider's key removed at every depth (before: the
    record was lost without an error counted or a log line)."""
    deep = nested(800, SECRETS + f', "echo": "{PROVIDER_KEY}"')

    async def upstream(request: web.Request) -> web.StreamResponse:
        def head(kind: str) -> str:
            return (
                '{"id": "x", "object": "chat.completion'
                + kind
                + '", "created": 1, "model": "deepseek-chat", "choices": '
            )

        if not stream:
            msg = '{"role": "assistant", "content": "hi", "extra": ' + deep + "}"
            body = head("") + '[{"index": 0, "message": ' + msg + ', "finish_reason": "stop"}]}'
            return web.Response(body=body, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        tool = {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": deep}}
        delta = json.dumps({"role": "assistant", "tool_calls": [tool]})
        for choice in (f'{{"index": 0, "delta": {delta}}}', '{"index": 0, "delta": {}, "finish_reason": "stop"}'):
            await resp.write(b"data: " + (head(".chunk") + f"[{choice}]}}").encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", upstream)
    runner, url = await start_site(app)
    try:
        directory = tmp_path / "transcripts"
        gw = await _capture(make_gateway, directory, base_url=url + "/v1")
        with structlog.testing.capture_logs() as logs:
            body = {**CHAT, "stream": stream}
            async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
                assert r.status == 200
                await r.read()
            await gw.gw.capture.close()
    finally:
        await runner.cleanup()
    assert gw.gw.capture.writer.errors == 0
    assert "transcript_record_failed" not in [e["event"] for e in logs]
    (rec,) = records(directory)
    text = json.dumps(rec["response"], ensure_ascii=False)
    assert "hunter2-deep" not in text and "sk-inner" not in text and PROVIDER_KEY not in text and "北京" in text


async def test_a_record_that_cannot_be_written_is_logged_by_its_request_id(tmp_path: Path) -> None:
    """A record that cannot be encoded costs that record only: ``errors`` + 1 and one
    ``transcript_record_failed`` line naming its request id and the error's type, never its content; the
    records of the same batch are written."""
    writer = TranscriptWriter(tmp_path)
    await writer.start()
    with structlog.testing.capture_logs() as logs:
        writer.submit(record(1))
        writer.submit(record(2, response={"role": "assistant", "content": "秘密内容", "odd": object()}))
        writer.submit(record(3))
        await writer.close()
    assert writer.errors == 1 and [r["request_id"] for r in read_all(tmp_path)] == ["req-1", "req-3"]
    (line,) = [e for e in logs if e["event"] == "transcript_record_failed"]
    assert line["request_id"] == "req-2" and line["log_level"] == "error" and "秘密内容" not in str(line)


def test_deep_json_text_loses_its_secret_values_and_stays_json() -> None:
    """JSON too deep to be read as JSON is read as text, token by token: a secret-named scalar goes with its key
    and comma, a secret-named object or array is written empty, a string in it that holds JSON loses its secrets
    too, and the rest is kept as written."""
    assert strip_text('{"a": 1, "password": "x"}') == '{"a": 1}'
    assert strip_text('{"password": "x", "a": 1}') == '{ "a": 1}'
    assert strip_text('[{"token": [1, {"b": 2}], "c": "{\\"secret\\": 3}"}]') == '[{"token": [], "c": "{}"}]'
    assert strip_text('{"password"}') == '{"password"}'  # no JSON: kept as it is
    deep = nested(5000, SECRETS)
    clean = strip_secrets({"content": deep})["content"]
    assert "hunter2-deep" not in clean and "sk-inner" not in clean and "北京" in clean
    assert clean == deep.replace('"password": "hunter2-deep",', "").replace('{"v": "sk-inner"}', "{}")
