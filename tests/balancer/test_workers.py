"""``balancer serve --workers N``: N processes on one port that behave as one gateway."""

from __future__ import annotations

import asyncio
import copy
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.balancer.test_metrics import value
from tests.conftest import CHAT, EmulatorHandle, auth, base_config, wait_ready
from tests.redis_server import free_port


def _config(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "workers.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


async def _fresh(url: str, path: str, **kw: Any) -> tuple[int, Any]:
    """One request on a new connection (SO_REUSEPORT spreads connections, not requests)."""
    async with aiohttp.ClientSession() as s, s.request(kw.pop("method", "GET"), url + path, **kw) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


async def test_workers_share_one_port_and_behave_as_one(
    tmp_path: Path, emulator: EmulatorHandle, redis_url: str, http: aiohttp.ClientSession
) -> None:
    """Two workers answer on one port (both seen), a scrape of either counts every request, SIGHUP reloads
    both, SIGTERM drains both and the supervisor exits 0."""
    raw = base_config(emulator.url)
    raw["state"] = {"backend": "redis", "redis_url": redis_url}
    raw["logging"] = {"format": "json", "level": "warning"}
    cfg = _config(tmp_path, raw)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "balancer", "serve", "--config", str(cfg), "--port", str(port), "--workers", "2"]
    with (tmp_path / "supervisor.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    try:
        await wait_ready(http, url, proc)
        pids = set()
        for _ in range(400):  # bounded (~20 s): the second worker may still be starting
            pids.add((await _fresh(url, "/readyz"))[1]["pid"])
            if len(pids) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(pids) == 2
        for _ in range(20):
            status, _ = await _fresh(url, "/v1/chat/completions", method="POST", json=CHAT, headers=auth())
            assert status == 200
        for _ in range(4):  # whichever worker answers the scrape counts both workers' requests
            await asyncio.sleep(1.2)  # each worker publishes its counts once a second
            text = (await _fresh(url, "/metrics"))[1]
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
            }
            assert value(samples, "qiao_requests_total", route="chat", status="200", client="tests") == 20
        new = copy.deepcopy(raw)
        new["routes"]["added"] = {"candidates": [{"provider": "qwen", "model": "qwen-plus"}]}
        cfg.write_text(yaml.safe_dump(new))
        proc.send_signal(signal.SIGHUP)
        generations: dict[int, int] = {}
        for _ in range(100):
            body = (await _fresh(url, "/readyz"))[1]
            generations[body["pid"]] = body["config_generation"]
            if len(generations) == 2 and set(generations.values()) == {2}:
                break
            await asyncio.sleep(0.05)
        assert set(generations.values()) == {2}, generations
    finally:
        proc.terminate()
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, (tmp_path / "supervisor.log").read_text()[-2000:]


def test_memory_state_with_workers_is_refused(tmp_path: Path, emulator: EmulatorHandle) -> None:
    """--workers 2 without shared state is refused with a message saying what to change."""
    cfg = _config(tmp_path, base_config(emulator.url))
    out = subprocess.run(
        [sys.executable, "-m", "balancer", "serve", "--config", str(cfg), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 2 and "needs shared state" in out.stderr and "redis_url" in out.stderr
