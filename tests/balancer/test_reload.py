"""Hot reload: SIGHUP swaps the config without dropping a request in flight."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
import structlog
import yaml

from balancer import config as config_mod
from balancer.state import keys
from balancer.state.redis import RedisStore
from tests.conftest import (
    CHAT,
    CLIENT_KEY,
    EmulatorHandle,
    GatewayFactory,
    GatewayHandle,
    auth,
    base_config,
    wait_ready,
)
from tests.redis_server import free_port


async def test_reload_under_load_drops_nothing(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Reloading the config repeatedly while 200 requests (streams included) are in flight fails none of them. The
    timeouts are the defaults' scale, not the suite's short ones: a loaded machine may take seconds over 200 streams,
    and what this checks is the reload, not the timers (tests/balancer/test_timeouts.py)."""
    emulator.emu.chunk_delay_ms = 2
    raw = base_config(emulator.url)
    raw["timeouts"] = {"connect_s": 30, "ttft_s": 30, "idle_s": 30, "total_s": 60}
    raw["failover"]["deadline_s"] = 60
    gw = await make_gateway(lambda cfg: cfg.update(timeouts=raw["timeouts"], failover=raw["failover"]))

    async def one(i: int) -> int:
        body = {**CHAT, "stream": i % 2 == 0}
        async with http.post(gw.url + "/v1/chat/completions", json=body, headers=auth()) as r:
            data = await r.read()
            assert b'"error"' not in data, data[-300:]
            return r.status

    async def reloader() -> None:
        for i in range(10):
            new = copy.deepcopy(raw)
            new["routes"][f"extra{i}"] = {"candidates": [{"provider": "qwen", "model": "qwen-plus"}]}
            await gw.gw.reload(config_mod.parse(new))
            await asyncio.sleep(0.01)

    results = await asyncio.gather(*(one(i) for i in range(200)), reloader())
    assert results[:-1] == [200] * 200
    assert "extra9" in gw.gw.routes and gw.gw.generation == 11


async def test_sighup_reloads_a_running_process(
    tmp_path: Path, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A real `balancer serve` process picks up an edited config file on SIGHUP; a bad edit is refused and logged."""
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
    try:
        await wait_ready(http, url, proc)
        body = {**CHAT, "model": "later"}
        async with http.post(url + "/v1/chat/completions", json=body, headers=auth()) as r:
            assert r.status == 404
        raw["routes"]["later"] = {"candidates": [{"provider": "qwen", "model": "qwen-plus"}]}
        cfg_file.write_text(yaml.safe_dump(raw))
        os.kill(proc.pid, signal.SIGHUP)
        for _ in range(100):
            await asyncio.sleep(0.05)
            async with http.post(url + "/v1/chat/completions", json=body, headers=auth()) as r:
                if r.status == 200:
                    break
        assert r.status == 200
        cfg_file.write_text("providers: [")  # broken: the running config stays
        os.kill(proc.pid, signal.SIGHUP)
        await asyncio.sleep(0.3)
        async with http.post(url + "/v1/chat/completions", json=body, headers=auth()) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    log = err.decode()
    assert proc.returncode == 0
    assert "config_reloaded" in log and "config_reload_failed" in log and "gateway_stopped" in log
    assert CLIENT_KEY not in log and "sk-a" not in log
    # Production JSON lines: the canonical request_done is rendered straight to the buffered sink.
    import json

    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    done = [e for e in events if e["event"] == "request_done"]
    assert {d["status"] for d in done} == {200, 404}  # the refused request has its line too
    served = [d for d in done if d["status"] == 200]
    assert len(served) >= 2 and served[0]["route"] == "later"
    assert {d["error"] for d in done if d["status"] == 404} == {"model_not_found"}
    assert all(d["level"] == "info" and d["timestamp"].endswith("Z") and d["request_id"] for d in done)


async def test_reload_brings_back_a_model_taken_out_as_unavailable(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """A model the vendor said is not available is out for an hour; a config reload (an operator enabled it)
    brings it back at once."""
    gw = await make_gateway()
    await emulator.fault("deepseek.a", "custom", status=404, body='{"error": {"message": "model not found"}}', count=1)
    r = await gw.client().chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
    assert r.headers["x-qiao-provider"] == "ds-b"
    assert not gw.gw.store.health("ds-a", "deepseek-chat", gw.clock()).available
    await gw.gw.reload(config_mod.parse(base_config(emulator.url)))
    assert gw.gw.store.health("ds-a", "deepseek-chat", gw.clock()).available


def _packed(raw: dict[str, Any]) -> None:
    """chat on credit-burn, ds-b (its second candidate) holding a pack it can never finish: the plan puts it first."""
    raw["providers"]["ds-b"]["account"] = {"grants": [{"name": "pack", "tokens": 10**10, "expires": "2099-01-01"}]}
    raw["routes"]["chat"]["strategy"] = "credit-burn"


async def _served_by(gw: GatewayHandle, n: int = 6) -> set[str]:
    """The providers that served ``n`` chat requests (their x-qiao-provider headers)."""
    client = gw.client()
    got = set()
    for _ in range(n):
        r = await client.chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
        got.add(r.headers["x-qiao-provider"])
    return got


async def test_reload_that_reorders_candidates_never_routes_by_the_old_plan(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, redis_url: str
) -> None:
    """The credit plan names candidates by their index in the route. A reload that reorders chat's candidates
    (ds-b's pack now first, ds-a second) routes by the new order: with the re-plan after it working, the pack
    (ds-b) serves; with it failing (a hand-edited grant counter in Redis), the route has no plan and goes by the
    price order (qwen-plus, the cheapest) -- never to ds-a, which sits at the pack's old index."""
    gw = await make_gateway(_packed, store=RedisStore.from_url(redis_url))
    assert await _served_by(gw) == {"ds-b"}
    raw = base_config(emulator.url)
    _packed(raw)
    chat = raw["routes"]["chat"]["candidates"]
    raw["routes"]["chat"]["candidates"] = [chat[1], chat[0], chat[2]]  # ds-b, ds-a, qwen
    await gw.gw.reload(config_mod.parse(raw))
    assert await _served_by(gw) == {"ds-b"}
    raw["routes"]["chat"]["candidates"] = [chat[0], chat[1], chat[2]]  # back: ds-a, ds-b, qwen
    await gw.gw.reload(config_mod.parse(raw))
    assert await _served_by(gw) == {"ds-b"} and gw.gw.replans.view()["error"] is None
    r = aioredis.Redis.from_url(redis_url)
    await r.set(keys.grant_used("ds-b", "pack"), "1.5e3")  # every re-plan fails from here on
    await r.aclose()
    raw["routes"]["chat"]["candidates"] = [chat[1], chat[0], chat[2]]  # ds-b, ds-a, qwen again
    await gw.gw.reload(config_mod.parse(raw))
    assert gw.gw.replans.view()["error"] is not None
    assert await _served_by(gw) == {"qwen"}
    r = aioredis.Redis.from_url(redis_url)
    await r.set(keys.grant_used("ds-b", "pack"), "0")  # readable again: bookings at close are not lost
    await r.aclose()


async def test_a_plan_solved_for_the_config_before_a_reload_does_not_steer_the_new_one(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """A re-plan already solving when a reload reorders chat's candidates finishes with a plan for the old order:
    it is installed for the routes it still fits only, so chat goes by the price order (qwen-plus) until the next
    re-plan, not to ds-a at the pack's old index."""
    gw = await make_gateway(_packed)
    raw = base_config(emulator.url)
    _packed(raw)
    chat = raw["routes"]["chat"]["candidates"]
    raw["routes"]["chat"]["candidates"] = [chat[1], chat[0], chat[2]]  # ds-b, ds-a, qwen
    solving = asyncio.create_task(gw.gw.replan())
    await asyncio.sleep(0)  # the re-plan has read the config in force and is solving
    gw.gw.apply(config_mod.parse(raw))  # the swap of a reload, before its own re-plan
    await solving
    assert gw.gw.plan is not None and "chat" not in gw.gw.plan.routes and "solo" in gw.gw.plan.routes
    assert await _served_by(gw) == {"qwen"}


async def test_a_reload_that_changes_the_transcripts_settings_applies_them(
    tmp_path: Path, make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """A reload with another transcripts directory writes the conversations from then on to the new one (the old
    file closed whole, its records kept, and logged as ``transcripts_reconfigured``); one with sample_rate 0 then
    captures nothing. (Before, capture was built once at start: the reload was silently not applied.)"""
    first, second = tmp_path / "first", tmp_path / "second"

    def capture(directory: Path, sample_rate: float = 1.0) -> dict[str, Any]:
        raw = base_config(emulator.url)
        raw["transcripts"] = {"directory": str(directory), "sample_rate": sample_rate}
        raw["routes"]["chat"]["transcripts"] = True
        return raw

    def records(directory: Path) -> list[bytes]:
        """The records written so far (a file still open has no gzip trailer yet: read what it holds)."""
        found = b"".join(zlib.decompressobj(31).decompress(f.read_bytes()) for f in directory.glob("*.jsonl.gz"))
        return found.splitlines()

    async def until(what: Any) -> None:
        for _ in range(1000):
            if what():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("never happened")

    gw = await make_gateway(lambda raw: raw.update(capture(first)))
    client = gw.client()
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    await until(lambda: len(records(first)) == 1)
    with structlog.testing.capture_logs() as logs:
        await gw.gw.reload(config_mod.parse(capture(second)))
    assert [e["now"]["directory"] for e in logs if e["event"] == "transcripts_reconfigured"] == [str(second)]
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    await until(lambda: len(records(second)) == 1)
    assert len(records(first)) == 1
    await gw.gw.reload(config_mod.parse(capture(second, sample_rate=0.0)))
    capture_now = gw.gw.capture
    assert capture_now is not None
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert capture_now.writer.dropped == 1 and capture_now.writer.written == 0
