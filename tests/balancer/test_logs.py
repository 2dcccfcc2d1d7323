"""One canonical request_done line per request; secrets never reach a log line."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import aiohttp
import structlog

from balancer.logs import redact
from tests.conftest import ADMIN_KEY, CHAT, CLIENT_KEY, EmulatorHandle, GatewayFactory, GatewayHandle, auth


async def test_one_request_done_line_with_attempts(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A failed-over request logs exactly one request_done with every attempt, tokens and status."""
    await emulator.fault("deepseek.a", "rate_limit")
    with structlog.testing.capture_logs() as logs:
        async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=auth()) as r:
            assert r.status == 200
            rid = r.headers["x-request-id"]
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1
    line = done[0]
    assert line["request_id"] == rid and line["route"] == "chat" and line["status"] == 200
    assert line["provider"] == "ds-b" and line["tokens"]["completion"] == 8
    assert [a["result"] for a in line["attempts"]] == ["rate_limited", "ok"]
    assert "ms" in line


async def test_failed_request_logs_its_status(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A request that fails upstream logs one request_done carrying the status the client got."""
    await emulator.fault("deepseek.a", "bad_request")
    with structlog.testing.capture_logs() as logs:
        async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=auth()) as r:
            assert r.status == 400
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1 and done[0]["status"] == 400 and done[0]["attempts"][0]["result"] == "bad_request"


async def test_no_secret_in_any_log_line(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Neither the client's key nor any provider key appears in any log event, even on failures."""
    await emulator.fault("deepseek.a", "auth")
    with structlog.testing.capture_logs() as logs:
        for body in (CHAT, {**CHAT, "stream": True}):
            async with http.post(gateway.url + "/v1/chat/completions", json=body, headers=auth()) as r:
                await r.read()
    text = repr(logs)
    for secret in ("sk-test-client", "sk-a", "sk-b", "sk-q"):
        assert secret not in text


def test_redact_processor() -> None:
    """Fields named like credentials are replaced before rendering."""
    event = redact(None, "info", {"event": "x", "api_key": "sk-1", "Authorization": "Bearer sk-2", "model": "m"})
    assert event == {"event": "x", "api_key": "[redacted]", "Authorization": "[redacted]", "model": "m"}


async def test_quirk_adjustments_are_counted(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A value clamped because of a declared vendor quirk is reported in request_done, never silent."""
    seen = emulator.record_bodies()
    with structlog.testing.capture_logs() as logs:
        body = {**CHAT, "model": "kimi", "temperature": 1.5}
        async with http.post(gateway.url + "/v1/chat/completions", json=body, headers=auth()) as r:
            assert r.status == 200
    assert seen[0]["temperature"] == 1.0
    done = next(e for e in logs if e["event"] == "request_done")
    assert done["adjusted"] == ["temperature 1.5->1.0"]


def test_sampler_holds_back_a_flood_and_reports_it() -> None:
    """At most per_s lines a second per kind; the next second reports how many were held back, per kind."""
    from balancer.logs import Sampler

    now = [100.0]
    s = Sampler(per_s=3, clock=lambda: now[0])
    assert [s.allow("401")[0] for _ in range(5)] == [True, True, True, False, False]
    assert s.allow("404")[0]
    now[0] = 101.2
    ok, held = s.allow("401")
    assert ok and held == {"401": 2}
    assert s.allow("401") == (True, {})


async def test_refused_requests_are_logged_and_sampled(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """Refused requests (a wrong key) each get a request_done line with their reason, up to 20 in each second
    (the sampler's clock is monotonic time); the metrics still count every one."""
    n = 80
    t0 = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        for _ in range(n):
            async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=auth("sk-nope")) as r:
                assert r.status == 401
    seconds = int(time.monotonic()) - int(t0) + 1  # the seconds the flood touched
    lines = [e for e in logs if e["event"] == "request_done"]
    assert 20 <= len(lines) <= min(20 * seconds, n - 1) and all(e["error"] == "invalid_api_key" for e in lines)
    async with http.get(gateway.url + "/metrics") as r:
        assert f'qiao_requests_total{{client="",route="",status="401"}} {n}.0' in await r.text()


async def test_refusals_on_other_endpoints_are_logged(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """A refusal outside the chat endpoints (a client key on the admin API, no key on /v1/models) logs one
    request_done with the path, status and error code."""
    with structlog.testing.capture_logs() as logs:
        async with http.get(gateway.url + "/admin/providers", headers=auth()) as r:
            assert r.status == 403
        async with http.get(gateway.url + "/v1/models") as r:
            assert r.status == 401
    done = [(e["path"], e["status"], e["error"]) for e in logs if e["event"] == "request_done"]
    assert done == [("/admin/providers", 403, "admin_key_required"), ("/v1/models", 401, "missing_api_key")]


async def _done_lines(logs: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The request_done lines captured, once there are ``n`` of them or after 2 s (bounded poll)."""
    for _ in range(40):
        lines = [e for e in logs if e["event"] == "request_done"]
        if len(lines) >= n:
            break
        await asyncio.sleep(0.05)
    return [e for e in logs if e["event"] == "request_done"]


async def test_idempotency_key_reused_logs_one_line(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """A chat request refused because its Idempotency-Key was first used with another body (422) logs one
    request_done with that status and code, as every other refused chat request does."""
    h = {**auth(), "Idempotency-Key": "reused-1"}
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=h) as r:
        assert r.status == 200
    with structlog.testing.capture_logs() as logs:
        async with http.post(gateway.url + "/v1/chat/completions", json={**CHAT, "temperature": 0.5}, headers=h) as r:
            assert r.status == 422
            rid = r.headers["x-request-id"]
        done = await _done_lines(logs, 1)
    assert [(e["status"], e["error"], e["request_id"]) for e in done] == [(422, "idempotency_key_reused", rid)]


async def test_admin_conflict_logs_one_line(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """An admin call refused with 409 (a key name already taken) logs one request_done with its status and
    code, like the admin API's 401/403/404; the admin key is not in it."""
    spec = {"name": "tests"}  # the config's client key
    with structlog.testing.capture_logs() as logs:
        async with http.post(gateway.url + "/admin/keys", json=spec, headers=auth(ADMIN_KEY)) as r:
            assert r.status == 409
            code = (await r.json())["error"]["code"]
        done = await _done_lines(logs, 1)
    assert [(e["path"], e["status"], e["error"]) for e in done] == [("/admin/keys", 409, code)]
    assert ADMIN_KEY not in repr(logs)


async def test_idempotent_request_cut_mid_body_logs_one_line(gateway: GatewayHandle) -> None:
    """A chat request with an Idempotency-Key whose client closes the connection before the whole body
    arrived logs one request_done (nobody is answered; the line says how it ended), as one without the
    header does."""
    host, port = gateway.url.removeprefix("http://").split(":")
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {CLIENT_KEY}\r\nIdempotency-Key: cut-1\r\nContent-Length: 400\r\n\r\n"
    )
    with structlog.testing.capture_logs() as logs:
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(head.encode() + b'{"model": "chat"')
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        done = await _done_lines(logs, 1)
        await asyncio.sleep(0.2)  # a second line, if any, would come now
    assert len([e for e in logs if e["event"] == "request_done"]) == 1 and done[0]["status"] >= 400


async def test_replay_line_names_its_client(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """A request answered from a kept Idempotency-Key reply logs one request_done naming the client key
    (as the first request's line does), with no attempts: nothing is served or booked again."""
    h = {**auth(), "Idempotency-Key": "replay-client-1"}
    with structlog.testing.capture_logs() as logs:
        for _ in range(2):
            async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=h) as r:
                assert r.status == 200
        done = await _done_lines(logs, 2)
    assert [(e["client"], e.get("replay"), len(e.get("attempts", []))) for e in done] == [
        ("tests", None, 1),
        ("tests", True, 0),
    ]


async def test_client_gone_before_a_plain_reply_logs_499(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A client that leaves before a plain reply is ready gets nothing: its one request_done says 499 (as when it
    leaves during a failover), not the 200 nobody received; the attempt served is still in it, booked once."""
    await emulator.fault("deepseek.a", "slow_first_byte", latency_ms=600, count=1)
    with structlog.testing.capture_logs() as logs:
        try:
            timeout = aiohttp.ClientTimeout(total=0.2)
            async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=auth(), timeout=timeout):
                pass
        except TimeoutError:
            pass
        done = await _done_lines(logs, 1)
        await asyncio.sleep(0.2)  # a second line, if any, would come now
    assert [(e["status"], [a["result"] for a in e["attempts"]]) for e in done] == [(499, ["ok"])]
    assert done[0]["tokens"]["completion"] == 8


async def test_body_too_large_line_has_its_code(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """A chat request over the body limit logs one request_done with 413 and the code the client was given."""
    big = io.BytesIO(b"x" * (gateway.gw.cfg.server.max_body_bytes + 1))
    headers = {**auth(), "Content-Type": "application/json"}
    with structlog.testing.capture_logs() as logs:
        async with http.post(gateway.url + "/v1/chat/completions", data=big, headers=headers) as r:
            assert r.status == 413
            code = (await r.json())["error"]["code"]
        done = await _done_lines(logs, 1)
    assert code == "request_too_large" and [(e["status"], e["error"]) for e in done] == [(413, code)]


MSG = b'{"model": "MODEL", "messages": [{"role": "user", "content": "x"}]}'
EARLY_REFUSALS: list[tuple[str, str, dict[str, str], bytes, int, str]] = [
    ("POST", "/v1/chat/completions", {"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz--", 415,
     "unsupported_media_type"),
    ("POST", "/v1/chat/completions", {"Content-Encoding": "gzip"}, b"{}", 415, "unsupported_content_encoding"),
    ("POST", "/v1/chat/completions", {"Content-Length": str(2 << 20)}, b"", 413, "request_too_large"),
    ("POST", "/v1/chat/completions", {}, b"{not json", 400, "invalid_json"),
    ("POST", "/v1/chat/completions", {"x-qiao-strategy": "nope"}, MSG.replace(b"MODEL", b"chat"), 400,
     "invalid_strategy"),
    ("POST", "/v1/chat/completions", {}, MSG.replace(b"MODEL", b"no-such-route"), 404, "model_not_found"),
    ("POST", "/v1/embeddings", {}, b'{"model": "chat", "input": "x"}', 400, "wrong_endpoint"),
    ("GET", "/v1/models/no-such-route", {}, b"", 404, "model_not_found"),
    ("GET", "/v1/nowhere", {}, b"", 404, "not_found"),
    ("GET", "/v1/chat/completions", {}, b"", 405, "method_not_allowed"),
    ("GET", "/admin/providers", {}, b"", 403, "admin_key_required"),
]  # fmt: skip


async def _raw_refusal(url: str, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """Send one request as raw bytes (a Content-Length larger than the body is sent as it is) and read the
    answer's status and error code."""
    head = {"Host": "x", "Authorization": f"Bearer {CLIENT_KEY}", "Connection": "close", **headers}
    head.setdefault("Content-Type", "application/json")
    head.setdefault("Content-Length", str(len(body)))
    text = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(text.encode() + body)
    head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(int(h.split(b":")[1]) for h in head_bytes.split(b"\r\n") if h.lower().startswith(b"content-length:"))
    payload = await asyncio.wait_for(reader.readexactly(length), 5)
    writer.close()
    return int(head_bytes.split(b" ", 2)[1]), json.loads(payload)["error"]["code"]


async def test_every_early_refusal_names_its_client(make_gateway: GatewayFactory) -> None:
    """Every refusal before a request is routed — 408 (a body that stops arriving), 413, 415, 400 (bad JSON, a
    bad strategy, the wrong endpoint), 404 (an unknown model, route or path), 405, 403 (a client key on the admin
    API) — logs a request_done line naming the client key by its name (as served requests do) with the path,
    status and code; the key itself is in no line. A wrong key's 401 names no client."""
    gw = await make_gateway(lambda c: c.update(server={"body_timeout_s": 1.0, "max_body_bytes": 1 << 20}))
    cases = [*EARLY_REFUSALS, ("POST", "/v1/chat/completions", {"Content-Length": "5000"}, b'{"model"', 408, "")]
    with structlog.testing.capture_logs() as logs:
        for method, path, headers, body, status, code in cases:
            got = await _raw_refusal(gw.url, method, path, headers, body)
            assert got == (status, code or "request_timeout"), (path, headers)
        async with aiohttp.ClientSession() as http, http.get(gw.url + "/v1/models", headers=auth("sk-nope")) as r:
            assert r.status == 401
        done = await _done_lines(logs, len(cases) + 1)
    seen = [(e.get("client"), e["path"], e["status"], e["error"]) for e in done]
    expected = [("tests", path, status, code or "request_timeout") for _, path, _, _, status, code in cases]
    assert seen == [*expected, (None, "/v1/models", 401, "invalid_api_key")]
    assert CLIENT_KEY not in repr(logs)
