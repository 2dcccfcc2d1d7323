"""Three gateway processes and one real Redis behave as one gateway, against the emulator's counts."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import redis.asyncio as aioredis
import yaml

from balancer.credit.ledger_redis import book_tokens
from balancer.credit.plan import STALE_GAP_S
from balancer.state import keys
from tests.conftest import ADMIN_KEY, CHAT, CLIENT_KEY, EmulatorHandle, auth, base_config, wait_ready
from tests.redis_server import RedisServer, free_port


class Cluster:
    def __init__(self, urls: list[str], procs: list[subprocess.Popen[bytes]], redis_url: str) -> None:
        self.urls = urls
        self.procs = procs
        self.redis_url = redis_url


def cluster_config(
    emulator: EmulatorHandle, redis_url: str, edit: Callable[[dict[str, Any]], None] | None
) -> dict[str, Any]:
    raw = base_config(emulator.url)
    raw["state"] = {"backend": "redis", "redis_url": redis_url}
    raw["logging"] = {"format": "json", "level": "warning"}
    raw["server"] = {"drain_s": 5}
    raw["routes"]["chat"]["strategy"] = "priority"
    if edit is not None:
        edit(raw)
    return raw


@pytest.fixture
async def start_cluster(
    tmp_path: Path, emulator: EmulatorHandle, redis_url: str, http: aiohttp.ClientSession
) -> AsyncIterator[Callable[..., Any]]:
    procs: list[subprocess.Popen[bytes]] = []

    async def start(n: int = 3, edit: Callable[[dict[str, Any]], None] | None = None) -> Cluster:
        urls = []
        cfg = tmp_path / "cluster.yaml"
        cfg.write_text(yaml.safe_dump(cluster_config(emulator, redis_url, edit)))
        for _ in range(n):
            port = free_port()
            cmd = [sys.executable, "-m", "balancer", "serve", "--config", str(cfg), "--port", str(port)]
            with (tmp_path / f"gateway-{len(procs)}.log").open("wb") as log:  # the child keeps its own fd
                procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log))
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs[-n:], strict=True):
            await wait_ready(http, url, proc)
        return Cluster(urls, procs[-n:], redis_url)

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
    stuck = []
    for i, p in enumerate(procs):
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
            stuck.append((tmp_path / f"gateway-{i}.log").read_text()[-2000:])
    assert not stuck, f"a gateway ignored SIGTERM: {stuck}"


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any] = CHAT) -> tuple[int, str]:
    async with http.post(url + "/v1/chat/completions", json=body, headers=auth()) as r:
        await r.read()
        return r.status, r.headers.get("x-qiao-provider", "")


async def inside_one_minute() -> None:
    """Wait (at most 20.5 s) until a burst starting now ends inside the clock minute. The gateway's limit windows
    and the emulator's are both the clock minute, and a request admitted in one minute's last instant reaches the
    vendor in the next, so a burst that straddles the turn can overshoot the vendor's new window by what is in
    flight (seen: 7 rejections, then 2). Not what the limit tests are about."""
    if time.time() % 60 > 40:
        await asyncio.sleep(60.5 - time.time() % 60)


async def test_rpm_limit_holds_cluster_wide(
    start_cluster: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Under 3x its RPM limit spread over 3 instances, a provider never receives more than its limit
    in any minute (the emulator rejects nothing), and the excess fails over to the next candidate."""
    await emulator.limits("deepseek.a", rpm=40)

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["limits"] = {"rpm": 40}

    cluster = await start_cluster(3, edit)
    await inside_one_minute()
    results = await asyncio.gather(*(post(http, cluster.urls[i % 3]) for i in range(120)))
    assert all(status == 200 for status, _ in results)
    stats = (await emulator.stats())["deepseek.a"]
    assert stats["limit_rejections"] == 0
    assert stats["peak_window_requests"] <= 40
    served_a = sum(1 for _, p in results if p == "ds-a")
    assert served_a == stats["served"] and served_a >= 40 * 0.9  # the limit is used, not wasted


async def test_tpm_limit_holds_cluster_wide(
    start_cluster: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """TPM leases keep a provider's tokens per minute under its limit across instances."""
    await emulator.limits("deepseek.a", tpm=3000)

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["limits"] = {"tpm": 3000}

    cluster = await start_cluster(3, edit)
    body = {**CHAT, "max_tokens": 16}
    await inside_one_minute()
    results = await asyncio.gather(*(post(http, cluster.urls[i % 3], body) for i in range(150)))
    assert all(status == 200 for status, _ in results)
    stats = (await emulator.stats())["deepseek.a"]
    assert stats["limit_rejections"] == 0 and stats["peak_window_tokens"] <= 3000 * 1.02
    assert stats["served"] > 0


async def test_cooldown_and_breaker_propagate_within_a_second(
    start_cluster: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A cooldown set by one instance, and a breaker it opened, are honoured by the others within 1 s."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["breaker"] = {"consecutive_failures": 2, "open_s": 30, "min_requests": 100}

    cluster = await start_cluster(3, edit)
    await emulator.fault("deepseek.a", "rate_limit", retry_after=60, count=1)
    assert (await post(http, cluster.urls[0]))[1] == "ds-b"
    await asyncio.sleep(1.0)
    others = await asyncio.gather(*(post(http, cluster.urls[1 + i % 2]) for i in range(10)))
    assert {p for _, p in others} == {"ds-b"}
    assert (await emulator.stats())["deepseek.a"]["requests"] == 1

    await emulator.fault("deepseek.b", "server_error")
    for _ in range(2):
        assert (await post(http, cluster.urls[0]))[1] == "qwen"
    asked = (await emulator.stats())["deepseek.b"]["requests"]
    await asyncio.sleep(1.0)
    others = await asyncio.gather(*(post(http, cluster.urls[1 + i % 2]) for i in range(10)))
    assert {p for _, p in others} == {"qwen"}
    assert (await emulator.stats())["deepseek.b"]["requests"] == asked  # breaker open everywhere


async def usage_tokens(redis_url: str, provider: str) -> int:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    day = time.strftime("%Y%m%d", time.gmtime())
    value = await client.hget(keys.usage(provider, day), "tokens")
    await client.aclose()
    return int(value or 0)


async def test_accounting_is_exact_across_instances(
    start_cluster: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Tokens counted by the state store and booked by the shared ledger of 3 instances both equal the
    emulator's own totals, with failovers and streams."""
    cluster = await start_cluster(3)
    await emulator.fault("deepseek.a", "server_error", count=10)
    bodies = [CHAT, {**CHAT, "stream": True}, {**CHAT, "stream": True, "stream_options": {"include_usage": True}}]
    results = await asyncio.gather(*(post(http, cluster.urls[i % 3], bodies[i % 3]) for i in range(90)))
    assert all(status == 200 for status, _ in results)
    stats = await emulator.stats()
    client = aioredis.Redis.from_url(cluster.redis_url, decode_responses=True)

    async def books() -> list[tuple[int, int, int]]:  # (served, counted by the stores, booked by the ledger)
        return [
            (stats[t]["total_tokens"], await usage_tokens(cluster.redis_url, p), await book_tokens(client, p))
            for t, p in (("deepseek.a", "ds-a"), ("deepseek.b", "ds-b"))
        ]

    for _ in range(50):  # flushed every 50 ms; a busy machine may take a few periods
        if all(a == b == c for a, b, c in await books()):
            break
        await asyncio.sleep(0.1)
    assert all(a == b == c for a, b, c in await books()), await books()
    await client.aclose()
    assert stats["deepseek.b"]["served"] >= 10


async def test_every_instance_plans_from_the_whole_cluster(
    start_cluster: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Traffic served by one instance shows in every instance's plan: the two idle ones plan the grant's
    burn this hour from the cluster's traffic, the same as the busy one (not from their own, which is none)."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["routes"]["chat"]["strategy"] = "credit-burn"
        cfg["providers"]["ds-b"]["account"] = {
            "grants": [{"name": "pack", "tokens": 10**10, "models": ["deepseek-chat"], "expires": "2099-01-01"}]
        }

    cluster = await start_cluster(3, edit)
    results = await asyncio.gather(*(post(http, cluster.urls[0]) for _ in range(40)))
    assert all(status == 200 for status, _ in results)

    async def plans() -> list[float]:
        planned = []
        for url in cluster.urls:
            async with http.get(url + "/admin/plan", headers=auth(ADMIN_KEY)) as r:
                assert r.status == 200
                doc = await r.json()
            planned.append(next(g for g in doc["grants"] if g["grant"] == "pack")["planned_tokens_per_hour"])
        return planned

    for _ in range(20):  # the busy instance's traffic reaches Redis with its next flush (50 ms)
        planned = await plans()
        if min(planned) > 0 and max(planned) <= 1.05 * min(planned):
            break
        await asyncio.sleep(0.1)
    assert min(planned) > 0 and max(planned) <= 1.05 * min(planned), planned


async def test_an_instance_re_plans_when_another_spent_the_grant_its_plan_counts_on(
    start_cluster: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Two instances whose plans (made at start, re-planned hourly) give chat's first place to ds-b's 30k pack.
    Instance A's documents spend it; B has served nothing. Once its plan is STALE_GAP_S old, B's next requests
    still go to ds-b, and the one B pays for there (its ledger has A's spending from Redis) has B re-plan at
    once: within seconds B sends chat to qwen, and its status counts one plan found stale (grant_spent)."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["routes"]["chat"]["strategy"] = "credit-burn"
        cfg["providers"]["ds-b"]["account"] = {
            "grants": [{"name": "pack", "tokens": 30_000, "models": ["deepseek-chat"], "expires": "2099-01-01"}]
        }
        cfg["planning"] = {"replan_s": 3600}

    started = time.monotonic()
    a, b = (await start_cluster(2, edit)).urls
    document = {**CHAT, "messages": [{"role": "user", "content": "桥梁把两岸连在一起。" * 700}]}  # ~7k tokens
    while (await emulator.stats()).get("deepseek.b", {}).get("total_tokens", 0) <= 30_000:
        status, provider = await post(http, a, document)
        assert status == 200 and provider == "ds-b", (status, provider)
    await asyncio.sleep(max(0.0, started + STALE_GAP_S + 1 - time.monotonic()))
    served = []
    t0 = time.monotonic()
    while not served or served[-1] != "qwen":
        assert time.monotonic() - t0 < 20.0, f"B still sends chat to {served[-10:]}"
        status, provider = await post(http, b)
        assert status == 200
        served.append(provider)
        await asyncio.sleep(0.1)
    assert served[0] == "ds-b" and set(served) <= {"ds-b", "qwen"}, served
    async with http.get(b + "/admin/status", headers=auth(ADMIN_KEY)) as r:
        assert (await r.json())["plan"]["stale_total"] == {"grant_spent": 1}


async def test_sigkill_of_one_instance_does_not_stop_the_others(
    start_cluster: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A SIGKILLed instance loses only its own in-flight requests; the others keep serving within limits (the 90
    requests run inside one minute: :func:`inside_one_minute`)."""
    await emulator.limits("deepseek.a", rpm=60)

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["limits"] = {"rpm": 60}

    cluster = await start_cluster(3, edit)
    await inside_one_minute()
    await asyncio.gather(*(post(http, cluster.urls[i % 3]) for i in range(30)))
    cluster.procs[0].kill()
    results = await asyncio.gather(*(post(http, cluster.urls[1 + i % 2]) for i in range(60)))
    assert all(status == 200 for status, _ in results)
    assert (await emulator.stats())["deepseek.a"]["limit_rejections"] == 0


async def test_sigterm_drains_in_flight_streams(
    start_cluster: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """SIGTERM lets a stream in flight finish cleanly, then the process exits 0 with its accounting flushed."""
    emulator.emu.chunk_delay_ms = 100
    cluster = await start_cluster(1)
    proc = cluster.procs[0]

    async def stream() -> bytes:
        async with http.post(
            cluster.urls[0] + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth()
        ) as r:
            return await r.read()

    task = asyncio.create_task(stream())
    await asyncio.sleep(0.3)
    proc.terminate()
    data = await task
    assert data.rstrip().endswith(b"data: [DONE]")
    assert await asyncio.to_thread(proc.wait, 30) == 0
    stats = (await emulator.stats())["deepseek.a"]
    assert await usage_tokens(cluster.redis_url, "ds-a") == stats["total_tokens"]


async def test_sigterm_ends_long_streams_at_the_drain_deadline(
    start_cluster: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A stream longer than drain_s gets an error event and a clean end at the deadline (not a cut body); the
    process exits 0 soon after, with its transcripts closed as valid gzip and its books flushed to Redis."""
    transcripts = tmp_path / "transcripts"

    def edit(raw: dict[str, Any]) -> None:
        raw["server"] = {"drain_s": 1}
        raw["timeouts"] = {"connect_s": 2, "ttft_s": 5, "idle_s": 5, "total_s": 60}
        raw["transcripts"] = {"directory": str(transcripts)}
        raw["routes"]["chat"]["transcripts"] = True

    emulator.emu.chunk_delay_ms, emulator.emu.reply_tokens = 200, 60  # a 12 s answer
    cluster = await start_cluster(1, edit)
    proc = cluster.procs[0]
    assert (await post(http, cluster.urls[0]))[0] == 200  # one whole answer, captured before the drain

    async with http.post(cluster.urls[0] + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth()) as r:
        await r.content.readline()  # the stream is the client's
        t0 = time.monotonic()
        proc.terminate()
        body = await r.read()  # a clean chunked end: aiohttp raises on a cut body
    assert time.monotonic() - t0 < 4
    events = [line for line in body.split(b"\n") if line.startswith(b"data: ")]
    assert b'"code":"gateway_shutdown"' in events[-1] and b"[DONE]" not in body
    assert await asyncio.to_thread(proc.wait, 10) == 0
    files = list(transcripts.glob("*.jsonl.gz"))
    lines = [line for f in files for line in gzip.decompress(f.read_bytes()).splitlines()]  # EOFError if cut
    assert len(lines) == 1
    r = aioredis.Redis.from_url(cluster.redis_url, decode_responses=True)
    book = await r.hgetall(keys.book_day("ds-a", time.strftime("%Y%m%d", time.gmtime())))
    await r.aclose()
    assert sum(int(v) for f, v in book.items() if f.endswith("|requests")) == 2
    assert sum(int(v) for f, v in book.items() if f.endswith("|estimated")) == 1


async def test_redis_outage_is_invisible_to_clients(
    tmp_path: Path, make_gateway: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Killing Redis under load causes no client errors; /readyz says degraded; after a restart the
    store reconnects and its books match the emulator's totals."""
    from balancer.state.redis import RedisStore

    # AOF with fsync always: what was acknowledged survives the kill, as in production (deploy/).
    server = RedisServer(tmp_path / "redis", args=("--appendonly", "yes", "--appendfsync", "always")).start()
    await _aof_ready(server.url)
    try:
        store = RedisStore.from_url(server.url)
        gw = await make_gateway(store=store)
        statuses: list[int] = []

        async def load(n: int) -> None:
            for i in range(n):
                statuses.append((await post(http, gw.url, CHAT if i % 2 else {**CHAT, "stream": True}))[0])

        await asyncio.gather(*(load(20) for _ in range(4)))
        server.stop()
        await asyncio.gather(*(load(20) for _ in range(4)))
        for _ in range(100):  # the store finds Redis gone on its next call (a flush, a lease); a busy machine waits
            async with http.get(gw.url + "/readyz") as r:
                seen = (await r.json())["status"]
            if seen == "degraded":
                break
            await asyncio.sleep(0.1)
        assert seen == "degraded"
        server.start()
        await _aof_ready(server.url)
        for _ in range(100):
            await asyncio.sleep(0.1)
            if await store.status() == "ok":
                break
        await asyncio.gather(*(load(10) for _ in range(4)))
        assert statuses == [200] * len(statuses) and len(statuses) == 200
        assert store.degraded_events >= 1
        served = (await emulator.stats())["deepseek.a"]["total_tokens"]
        for _ in range(100):  # the books land with the next flush (a busy machine may need a retry or two)
            async with http.get(gw.url + "/readyz") as r:
                ready = (await r.json())["status"]
            if ready == "ready" and await usage_tokens(server.url, "ds-a") == served:
                break
            await asyncio.sleep(0.1)
        assert ready == "ready"
        assert await usage_tokens(server.url, "ds-a") == served
    finally:
        server.stop()


async def _aof_ready(url: str) -> None:
    """Wait until a just-started server has created its append-only file (a kill before that loses it)."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    for _ in range(200):
        try:
            info = await client.info("persistence")
            if info.get("aof_enabled") == 1 and info.get("aof_rewrite_in_progress") == 0 and not info.get("loading"):
                break
        except aioredis.RedisError:
            pass
        await asyncio.sleep(0.05)
    await client.aclose()


async def test_round_trips_per_request(make_gateway: Any, redis_url: str, http: aiohttp.ClientSession) -> None:
    """Redis's own command statistics show well under one round trip per request on the hot path,
    with RPM and TPM limits enforced through leases."""
    from balancer.credit.ledger_redis import RedisLedger
    from balancer.state.redis import RedisStore

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["limits"] = {"rpm": 6000, "tpm": 2_000_000}

    store = RedisStore.from_url(redis_url)
    gw = await make_gateway(edit, store=store)
    admin = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await admin.config_resetstat()
    n = 300
    await asyncio.gather(*(post(http, gw.url) for _ in range(n)))
    await asyncio.sleep(0.2)
    stats = await admin.info("commandstats")
    await admin.aclose()
    evalsha = stats.get("cmdstat_evalsha", {}).get("calls", 0)
    # Redis counted what the store says it sent: request-path scripts, and the flushes' apply.lua parts
    # (the store's accounting and, when the gateway books to Redis too, the ledger's)
    ledger = gw.gw.ledger
    flushed = store.accounting.parts_sent + (ledger.counters.parts_sent if isinstance(ledger, RedisLedger) else 0)
    assert evalsha <= store.round_trips + flushed + 1
    per_request = (store.round_trips + store.flushes) / n
    print(f"round trips per request: {per_request:.3f} ({store.round_trips} scripts, {store.flushes} flushes)")
    assert per_request <= 1.0 and store.round_trips <= n * 0.1


def test_redis_url_env_selects_redis(monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer) -> None:
    """With no state section, REDIS_URL selects the Redis store; without it the memory store is used."""
    from balancer import config as config_mod
    from balancer.app import make_store
    from balancer.state.memory import MemoryStore
    from balancer.state.redis import RedisStore

    raw = {"server": {"insecure_no_auth": True}, "providers": {}, "routes": {}}
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert type(make_store(config_mod.parse(raw))) is MemoryStore
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    assert isinstance(make_store(config_mod.parse(raw)), RedisStore)
    assert type(make_store(config_mod.parse({**raw, "state": {"backend": "memory"}}))) is MemoryStore


async def test_an_idempotency_key_is_answered_once_across_instances(
    start_cluster: Any, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A retry with the same Idempotency-Key that lands on another instance gets the first answer again (marked a
    replay, the same bytes) and reaches no vendor; two sent at once to two instances reach the vendor once, the
    second waiting for the first's reply."""
    cluster = await start_cluster(2)

    async def send(url: str, key: str) -> tuple[int, str | None, bytes]:
        headers = {**auth(CLIENT_KEY), "Idempotency-Key": key}
        async with http.post(url + "/v1/chat/completions", json=CHAT, headers=headers) as r:
            return r.status, r.headers.get("x-qiao-idempotent-replay"), await r.read()

    first = await send(cluster.urls[0], "retry-1")
    again = await send(cluster.urls[1], "retry-1")
    assert first[:2] == (200, None) and again == (200, "true", first[2])

    def sync_retry() -> tuple[str | None, str]:  # the sync openai SDK, as a client script retries
        client = openai.OpenAI(base_url=cluster.urls[1] + "/v1", api_key=CLIENT_KEY, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="chat", messages=CHAT["messages"], extra_headers={"Idempotency-Key": "retry-1"}
        )
        return raw.headers.get("x-qiao-idempotent-replay"), raw.parse().choices[0].message.content or ""

    replayed, content = await asyncio.to_thread(sync_retry)
    assert replayed == "true" and content == json.loads(first[2])["choices"][0]["message"]["content"]
    assert (await emulator.stats())["deepseek.a"]["requests"] == 1

    await emulator.fault("deepseek.a", "ok", latency_ms=800)
    both = await asyncio.gather(send(cluster.urls[0], "race-1"), send(cluster.urls[1], "race-1"))
    assert [b[0] for b in both] == [200, 200] and both[0][2] == both[1][2]
    assert sorted(str(b[1]) for b in both) == ["None", "true"]
    assert (await emulator.stats())["deepseek.a"]["requests"] == 2
