"""``balancer admin ...`` and ``balancer demo``: the terminal's way to the same admin API, against real gateways."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import aiohttp
import pytest

from balancer import cli
from tests.conftest import ADMIN_KEY, CHAT, GatewayHandle, auth
from tests.redis_server import free_port


async def admin(capsys: pytest.CaptureFixture[str], gw: GatewayHandle, *argv: str) -> tuple[int, str, str]:
    """Run ``balancer admin --url <gw> <argv>`` in a thread (the gateway serves on this loop); code, out, err."""
    code = await asyncio.to_thread(cli.main, ["admin", "--url", gw.url, *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def test_the_cli_steers_providers_and_keys(
    gateway: GatewayHandle, http: aiohttp.ClientSession, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """With QIAO_ADMIN_KEY set: providers prints the table, drain drains (the API agrees), keys create prints the
    secret once and the key serves, spend shows it per key, keys revoke refuses it; a client key as admin key is
    exit 1 with the gateway's message."""
    monkeypatch.setenv("QIAO_ADMIN_KEY", ADMIN_KEY)
    code, out, _ = await admin(capsys, gateway, "providers")
    assert code == 0 and out.split("\n")[0].split()[:3] == ["provider", "vendor", "state"] and "ds-a" in out
    code, out, _ = await admin(capsys, gateway, "drain", "kimi")
    assert (code, out.strip().splitlines()[-1]) == (0, "kimi: drained")  # after the admin_change log line
    assert {p.name: p.state for p in (await _snapshot(gateway)).providers}["kimi"] == "drained"
    code, out, _ = await admin(capsys, gateway, "keys", "create", "team-a", "--rpm", "30", "--daily-budget", "5",
                               "--expires", "2099-12-31", "--routes", "chat")  # fmt: skip
    secret = out.strip().splitlines()[-1]
    assert code == 0 and secret.startswith("sk-qiao-")
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=auth(secret)) as r:
        assert r.status == 200
    code, out, _ = await admin(capsys, gateway, "keys", "list")
    assert secret not in out and "team-a" in out and "2100-01-01" in out
    code, out, _ = await admin(capsys, gateway, "--json", "spend", "--by", "key")
    assert [(r["key"], r["requests"]) for r in json.loads(out)["rows"]] == [("team-a", 1)]
    code, out, _ = await admin(capsys, gateway, "keys", "revoke", "team-a")
    assert code == 0 and "revoked" in out
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=auth(secret)) as r:
        assert r.status == 401
    code, _, err = await admin(capsys, gateway, "--admin-key", "sk-test-client-0123456789", "providers")
    assert code == 1 and "403 admin_key_required" in err


async def _snapshot(gw: GatewayHandle) -> Any:
    from balancer import status

    return await status.snapshot(gw.gw)


def _read_banner(proc: subprocess.Popen[str]) -> str:
    lines: list[str] = []
    assert proc.stdout is not None
    while not any("emulator" in line for line in lines):
        line = proc.stdout.readline()
        assert line, "demo exited: " + "".join(lines)
        lines.append(line)
    return "".join(lines)


def free_pair() -> int:
    """A port free now whose next one is free too (the demo's emulator takes it): a port picked alone may have its
    neighbour held by any socket on a busy machine."""
    while True:
        port = free_port()
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def test_demo_prints_the_admin_key_and_the_dashboard() -> None:
    """`balancer demo` prints the client key, an admin key and the dashboard's URL; the dashboard is served there
    and the admin key opens the admin API (`balancer admin providers` lists the demo's providers)."""
    port = free_pair()  # the emulator takes port + 1
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "balancer", "demo", "--port", str(port)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        banner = _read_banner(proc)
        assert f"dashboard   http://127.0.0.1:{port}/admin/" in banner and "admin key   sk-qiao-admin-demo" in banner
        assert "client key  sk-qiao-demo" in banner
        for _ in range(200):
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/", timeout=2) as r:
                    assert b"<title>Qiao" in r.read()
                break
            time.sleep(0.05)
        out = subprocess.run(
            [sys.executable, "-m", "balancer", "admin", "--url", f"http://127.0.0.1:{port}", "--admin-key",
             "sk-qiao-admin-demo", "providers"], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0 and "deepseek-main" in out.stdout and "glm-main" in out.stdout, out.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
