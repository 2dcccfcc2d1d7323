"""The client matrix: every common client, every way a request can go, counted exactly once.

Each client (openai Python sync and async, the openai Node SDK, LangChain, httpx, curl) runs the same five
scenarios (see drivers.py) against a real gateway with shared state in a real Redis and transcripts on, with
the emulator streaming at full speed and at ~20 ms per chunk. Afterwards, the books must agree with what
the emulator served: one request_done per request; per account, the ledger's tokens, the store's usage
counters and the transcripts' usage equal the emulator's served tokens; the cut stream is booked once, as an
estimate.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import structlog

from balancer import config as config_mod
from balancer.app import make_app, make_runner
from balancer.credit.pricing import day_key
from balancer.state import keys
from balancer.state.redis import RedisStore
from tests.balancer.clients import drivers
from tests.conftest import CLIENT_KEY, EmulatorHandle, base_config, start_runner

CLIENTS: dict[str, Callable[[str, str], Any]] = {
    "openai-sync": drivers.openai_sync,
    "openai-async": drivers.openai_async,
    "openai-node": drivers.node,
    "langchain": drivers.langchain,
    "httpx": drivers.httpx_raw,
    "curl": drivers.curl,
}
ACCOUNTS = ("ds-a", "ds-b", "bad", "cutter")


def matrix_config(emu_url: str, transcripts: Path) -> dict[str, Any]:
    """The base test config plus two routes: ``fo`` (first candidate always fails with a 5xx) and ``cut``
    (its only candidate cuts every stream mid-answer); every conversation is captured."""
    raw = copy.deepcopy(base_config(emu_url))
    raw["providers"]["bad"] = {"vendor": "deepseek", "api_key": "sk-bad", "base_url": f"{emu_url}/deepseek.bad"}
    raw["providers"]["cutter"] = {"vendor": "deepseek", "api_key": "sk-cut", "base_url": f"{emu_url}/deepseek.cut"}
    raw["routes"]["fo"] = {
        "strategy": "priority",
        "candidates": [{"provider": "bad", "model": "deepseek-chat"}, {"provider": "ds-b", "model": "deepseek-chat"}],
    }
    raw["routes"]["cut"] = {"strategy": "priority", "candidates": [{"provider": "cutter", "model": "deepseek-chat"}]}
    raw["timeouts"] = {"connect_s": 2, "ttft_s": 5, "idle_s": 5, "total_s": 20}
    for route in raw["routes"].values():
        route["transcripts"] = True
    raw["transcripts"] = {"directory": str(transcripts), "sample_rate": 1.0}
    return raw


async def _run(client: str, base: str) -> dict[str, str]:
    fn = CLIENTS[client]
    if asyncio.iscoroutinefunction(fn):
        result: dict[str, str] = await fn(base, CLIENT_KEY)
        return result
    return dict(await asyncio.to_thread(fn, base, CLIENT_KEY))


def _transcripts(directory: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(directory.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            out += [json.loads(line) for line in f]
    return out


async def _books(url: str) -> dict[str, dict[str, int]]:
    """Per account: the ledger's tokens and estimated bookings, the store's requests and tokens (from Redis)."""
    r = aioredis.Redis.from_url(url, decode_responses=True)
    day = day_key(time.time())
    out = {}
    for p in ACCOUNTS:
        book = await r.hgetall(keys.book_day(p, day))
        usage = await r.hgetall(keys.usage(p, day))
        out[p] = {
            "ledger_tokens": sum(int(v) for f, v in book.items() if f.endswith("|tokens")),
            "ledger_estimated": sum(int(v) for f, v in book.items() if f.endswith("|estimated")),
            "store_requests": int(usage.get("requests", 0)),
            "store_tokens": int(usage.get("tokens", 0)),
        }
    await r.aclose()
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("pacing_ms", [0, 20])
@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_every_client_is_counted_once(
    client: str, pacing_ms: int, emulator: EmulatorHandle, redis_url: str, tmp_path: Path
) -> None:
    """Whatever the client (sync SDKs close a stream's connection right after [DONE]), each of its requests
    gives one request_done line; the cut stream ends in an error the client sees; and the ledger, the store's
    usage counters and the transcripts all equal what the emulator served, account by account."""
    emulator.emu.chunk_delay_ms = pacing_ms
    await emulator.fault("deepseek.bad", "server_error")
    await emulator.fault("deepseek.cut", "truncate_stream")
    cfg = config_mod.parse(matrix_config(emulator.url, tmp_path / "transcripts"), "matrix")
    runner, base = await start_runner(make_runner(make_app(cfg, store=RedisStore.from_url(redis_url))))
    with structlog.testing.capture_logs() as logs:
        try:
            results = await _run(client, base)
        finally:  # waits for handlers still ending (a client may return before its request is logged), then
            await runner.cleanup()  # flushes the ledger and the store and closes the transcript files
    assert results == drivers.EXPECTED
    done = [e for e in logs if e["event"] == "request_done"]
    assert sorted(e["route"] for e in done) == sorted(["chat", "chat", "chat", "fo", "cut"]), done
    stats = await emulator.stats()
    books = await _books(redis_url)
    served = {p: stats.get(f"deepseek.{p.removeprefix('ds-')}", {}) for p in ACCOUNTS}
    served["bad"], served["cutter"] = stats["deepseek.bad"], stats["deepseek.cut"]
    for p in ("ds-a", "ds-b"):
        assert books[p]["ledger_tokens"] == books[p]["store_tokens"] == served[p]["total_tokens"] > 0, (p, books)
        assert books[p]["store_requests"] == served[p]["requests"], (p, books, served[p])
        assert books[p]["ledger_estimated"] == 0
    assert books["bad"]["store_requests"] == served["bad"]["requests"] == 1 and books["bad"]["ledger_tokens"] == 0
    assert books["cutter"]["store_requests"] == 1 and books["cutter"]["ledger_estimated"] == 1
    assert books["cutter"]["ledger_tokens"] == books["cutter"]["store_tokens"] > 0
    records = _transcripts(tmp_path / "transcripts")
    assert len(records) == 4 and {r["route"] for r in records} == {"chat", "fo"}
    by_account: dict[str, int] = {}
    for r in records:
        by_account[r["provider"]] = by_account.get(r["provider"], 0) + r["usage"]["total_tokens"]
    assert by_account == {p: served[p]["total_tokens"] for p in ("ds-a", "ds-b")}
