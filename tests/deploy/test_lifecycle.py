"""The process lifecycle as the shipped supervisors drive it: systemd (deploy/systemd/qiao.service) learns
when the gateway is ready and stopping from its notifications, and a reload signal that arrives while the
gateway is still starting (as `systemctl reload` can send one) neither kills nor is lost. Real
`balancer serve` processes, a real notification socket, a vendor whose balance API never answers."""

from __future__ import annotations

import asyncio
import configparser
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.conftest import wait_ready

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "qiao.service"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hanging:
    """A vendor that accepts connections and never answers (its balance API hangs)."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def _accept(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        self.connected.set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        for w in self.writers:
            w.close()
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def hanging() -> AsyncIterator[Hanging]:
    h = Hanging()
    yield h
    await h.close()


def _config(tmp_path: Path, vendor_url: str, port: int) -> Path:
    cfg = {
        "server": {"host": "127.0.0.1", "port": port, "drain_s": 2, "insecure_no_auth": True},
        "state": {"backend": "memory"},
        "balances": {"timeout_s": 3},
        "providers": {"ds": {"vendor": "deepseek", "api_key": "sk-x", "base_url": vendor_url}},
        "routes": {"chat": {"candidates": [{"provider": "ds", "model": "deepseek-chat"}]}},
    }
    path = tmp_path / "qiao.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _serve(config: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "balancer", "serve", "--config", str(config)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=out, env={**os.environ, **(env or {})},
        )  # fmt: skip


async def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    for _ in range(200):
        if proc.poll() is not None:
            return proc.returncode
        await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("the gateway did not stop on SIGTERM")


async def test_sighup_while_starting_neither_kills_nor_is_lost(tmp_path: Path, hanging: Hanging) -> None:
    """A SIGHUP that arrives once the config is read but before the gateway listens (here: while its start-up
    balance poll waits on a vendor that never answers) does not kill the process: it starts, serves, and then
    re-reads its config (logged as a reload, config generation 2)."""
    port = _free_port()
    config = _config(tmp_path, await hanging.start(), port)
    log = tmp_path / "gateway.log"
    proc = _serve(config, log)
    try:
        await asyncio.wait_for(hanging.connected.wait(), 30)  # start-up: the balance poll is in flight
        proc.send_signal(signal.SIGHUP)
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, f"http://127.0.0.1:{port}", proc)
            for _ in range(100):
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if (await r.json())["config_generation"] == 2:
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the SIGHUP sent while starting was lost: no reload")
    finally:
        code = await _stop(proc)
    assert code == 0, log.read_text()


async def test_sigterm_while_starting_stops_cleanly(tmp_path: Path, hanging: Hanging) -> None:
    """A SIGTERM that arrives while the gateway starts (its balance poll waiting on a vendor that never answers)
    is kept, not ignored (as process 1 in a container would) nor fatal: the gateway drains as soon as it
    serves and exits 0, with the deferred stop logged."""
    port = _free_port()
    config = _config(tmp_path, await hanging.start(), port)
    log = tmp_path / "gateway.log"
    proc = _serve(config, log)
    try:
        await asyncio.wait_for(hanging.connected.wait(), 30)
        proc.send_signal(signal.SIGTERM)
        for _ in range(600):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, log.read_text()
    assert "stop_deferred" in log.read_text()


async def _datagram(sock: socket.socket, timeout: float) -> str:
    loop = asyncio.get_running_loop()
    return (await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)).decode()


async def test_systemd_is_told_ready_only_once_serving_and_stopping_on_drain(tmp_path: Path, hanging: Hanging) -> None:
    """The unit is Type=notify: `balancer serve` with NOTIFY_SOCKET sends READY=1 only once /healthz answers
    (so systemd holds `systemctl reload` and dependent units until then), and STOPPING=1 when SIGTERM starts the
    drain; it then exits 0."""
    port = _free_port()
    config = _config(tmp_path, await hanging.start(), port)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    proc = _serve(config, tmp_path / "gateway.log", {"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
    try:
        await asyncio.wait_for(hanging.connected.wait(), 30)
        ready = await _datagram(notify, 30)
        assert "READY=1" in ready.split("\n")
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as r:
            assert r.status == 200  # listening by the time systemd is told
        proc.send_signal(signal.SIGHUP)  # what `systemctl reload` does once the unit is active
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in (await _datagram(notify, 10)).split("\n")
    finally:
        code = await _stop(proc)
        notify.close()
    assert code == 0
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    assert unit["Service"]["Type"] == "notify" and unit["Service"]["NotifyAccess"] == "main"
