"""Requests aiohttp cannot parse: answered in OpenAI's error shape, never echoing the client's bytes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
import yaml

from tests.conftest import CLIENT_KEY, EmulatorHandle, GatewayHandle, base_config, raw_http, wait_ready
from tests.redis_server import free_port

CASES = [
    ("bad_method", b"GE\x01T /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_method"),
    ("tls_on_http", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400, "invalid_method"),
    ("malformed_request_line", b"GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400, "invalid_request_line"),
    ("cr_in_header_value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400, "invalid_http"),
    ("nul_in_header_value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "invalid_http"),
    (
        "content_length_and_chunked",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "invalid_http",
    ),
    (
        "two_content_lengths",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        400,
        "invalid_http",
    ),
    (
        "oversized_header",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
        431,
        "request_header_too_large",
    ),
    ("oversized_url", b"GET /" + b"u" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431, "request_header_too_large"),
]


@pytest.mark.parametrize(("name", "data", "status", "code"), CASES, ids=[c[0] for c in CASES])
async def test_protocol_errors_are_openai_shaped(
    gateway: GatewayHandle, name: str, data: bytes, status: int, code: str
) -> None:
    """Bytes that are not valid HTTP/1.1 get a JSON {"error": {...}} (status, type, code, message), a request
    id and one request_done line; the reply quotes none of the client's bytes."""
    with structlog.testing.capture_logs() as logs:
        got, headers, body = await raw_http(gateway.url, data)
    assert got == status, body
    assert headers["content-type"].startswith("application/json")
    err = json.loads(body)["error"]
    assert err["code"] == code and err["type"] == "invalid_request_error" and err["message"]
    assert headers["x-request-id"].startswith("req_")
    for echoed in (b"bbbbbbbb", b"uuuuuuuu", b"a\\rb", b"\\x00", b"GE\\x01T"):
        assert echoed not in body
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1 and done[0]["status"] == status and done[0]["request_id"] == headers["x-request-id"]
    assert not [e for e in logs if e.get("exc_info")], "a client's bad bytes are not logged as a traceback"


async def test_oversized_key_is_never_echoed(gateway: GatewayHandle) -> None:
    """A 9,000-character API key overflows the header limit: 431 in OpenAI's shape, the key nowhere in the
    reply (aiohttp's own 400 quoted its first 100 bytes)."""
    key = "sk-" + "k" * 8997
    data = f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
    status, _, body = await raw_http(gateway.url, data)
    assert status == 431
    assert b"kkkk" not in body and json.loads(body)["error"]["code"] == "request_header_too_large"


async def test_keep_alive_still_works_after_the_protocol_change(gateway: GatewayHandle) -> None:
    """Two pipelined well-formed requests on one connection are both answered (the protocol subclass changes
    only error replies)."""
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    two = f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\nConnection: close\r\n\r\n"
    status, _, body = await raw_http(gateway.url, one + two.encode())
    assert status == 200 and b'"ok"' in body and b'"list"' in body


STDLIB_LOGS = """
import asyncio, logging, warnings
from balancer import logs
logs.configure("info", "json")
try:
    raise ValueError("boom")
except ValueError:
    logging.getLogger("aiohttp.server").exception("Error handling request from %s", "127.0.0.1")
logging.getLogger("asyncio").error("Task exception was never retrieved")
logging.getLogger("aiohttp.access").info('127.0.0.1 "GET / HTTP/1.1" 200')
warnings.warn("a deprecation", UserWarning, stacklevel=1)
logs.flush()
"""


def test_stdlib_logging_is_json_in_json_mode() -> None:
    """With format json, stdlib records (aiohttp.server with a traceback, asyncio, aiohttp.access, warnings)
    are JSON lines like structlog's own, the traceback inside a field, never plain text."""
    out = subprocess.run([sys.executable, "-c", STDLIB_LOGS], capture_output=True, timeout=30, check=True)
    lines = out.stderr.decode().splitlines()
    events = [json.loads(line) for line in lines]  # raises on any plain-text line
    assert [e["logger"] for e in events] == ["aiohttp.server", "asyncio", "aiohttp.access", "py.warnings"]
    server = events[0]
    assert server["level"] == "error" and server["event"] == "Error handling request from 127.0.0.1"
    assert "ValueError: boom" in server["exception"] and server["timestamp"]


async def test_served_log_is_json_only_under_protocol_abuse(
    tmp_path: Path, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A real `balancer serve` (format json) fed every protocol error and a 9,000-character key writes only
    JSON lines: one request_done per bad request, no traceback, no key."""
    raw: dict[str, Any] = base_config(emulator.url)
    port = free_port()
    raw["server"] = {"port": port}
    raw["logging"] = {"format": "json"}
    cfg_file = tmp_path / "qiao.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))
    proc = subprocess.Popen(
        [sys.executable, "-m", "balancer", "serve", "--config", str(cfg_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    key = "sk-" + "q" * 8997
    try:
        await wait_ready(http, url, proc)
        for _, data, status, _ in CASES:
            assert (await raw_http(url, data))[0] == status
        big = f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        assert (await raw_http(url, big))[0] == 431
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    events = [json.loads(line) for line in err.decode().splitlines()]  # raises on any plain-text line
    done = [e for e in events if e["event"] == "request_done"]
    assert len(done) == len(CASES) + 1 and all(e["status"] >= 400 for e in done)
    assert not [e for e in events if "exception" in e]
    assert "qqqqqqqq" not in err.decode()
