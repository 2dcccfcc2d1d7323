"""Shared state under failure: Redis killed, paused or refusing writes, seen from outside through real HTTP
clients against gateways on real redis-server processes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
import structlog

from balancer.state import keys
from balancer.state.redis import RedisStore
from tests.balancer.admin.test_admin_api import call
from tests.conftest import CHAT, CLIENT_KEY, GatewayFactory, auth
from tests.redis_server import RedisServer


async def test_admin_key_changes_while_redis_is_away_are_a_clear_503(
    tmp_path: Path, make_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    """Creating, changing or revoking a client key needs the shared key table: with Redis down the admin API
    answers 503 state_store_unavailable in OpenAI's shape (not a 500 internal_error), and works again once Redis
    is back."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        gw = await make_gateway(store=RedisStore.from_url(server.url))
        status, body = await call(http, gw, "POST", "/admin/keys", json={"name": "before"})
        assert status == 201, body
        server.stop()
        status, body = await call(http, gw, "POST", "/admin/keys", json={"name": "during"})
        assert status == 503, body
        assert body["error"]["code"] == "state_store_unavailable"
        status, body = await call(http, gw, "DELETE", "/admin/keys/before")
        assert status == 503, body
        server.start()
        for _ in range(100):  # the client reconnects on its next call
            status, body = await call(http, gw, "POST", "/admin/keys", json={"name": "after"})
            if status != 503:
                break
            await asyncio.sleep(0.1)
        assert status == 201, body
    finally:
        server.stop()


async def _post(http: aiohttp.ClientSession, url: str, secret: str, model: str = "chat") -> int:
    async with http.post(url + "/v1/chat/completions", json={**CHAT, "model": model}, headers=auth(secret)) as r:
        await r.read()
        return r.status


def _pause(server: RedisServer, sig: signal.Signals) -> None:
    assert server.proc is not None
    os.kill(server.proc.pid, sig)


async def test_requests_caught_by_a_redis_stall_do_not_leak_local_concurrency(
    tmp_path: Path, make_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    """Requests waiting on a lease when Redis stalls (SIGSTOP: bytes accepted, no answer) go on local state, and
    each holds one local concurrency slot while it runs, not two: afterwards, still degraded, a key with
    concurrency 2 serves request after request (it is not locked out by slots nobody holds)."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        gw = await make_gateway(store=RedisStore.from_url(server.url))
        _, body = await call(http, gw, "POST", "/admin/keys", json={"name": "k", "limits": LIMITS_SMALL})
        secret = body["secret"]
        assert await _post(http, gw.url, secret) == 200  # a lease of one request, spent
        _pause(server, signal.SIGSTOP)
        assert await asyncio.gather(*(_post(http, gw.url, secret) for _ in range(2))) == [200, 200]
        assert await gw.gw.store.status() == "degraded"
        assert [await _post(http, gw.url, secret) for _ in range(3)] == [200, 200, 200]
    finally:
        _pause(server, signal.SIGCONT)
        server.stop()


async def test_a_concurrency_slot_asked_for_as_redis_stalls_is_neither_refused_nor_leaked(
    tmp_path: Path, make_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    """A request whose concurrency slot is being taken when Redis stalls is served on local state (not refused
    as over a limit it is under), and the slot Redis takes when it wakes up is given back: once Redis answers
    again the key's in-flight set empties (nothing is held for the reservation's 10 minutes)."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        store = RedisStore.from_url(server.url)
        gw = await make_gateway(store=store)
        _, body = await call(http, gw, "POST", "/admin/keys", json={"name": "k", "limits": LIMITS_WIDE})
        secret = body["secret"]
        assert await _post(http, gw.url, secret) == 200  # a lease of 20 requests: the next ones ask only for a slot
        await asyncio.sleep(0.2)  # its slot goes back to Redis with the next flush
        _pause(server, signal.SIGSTOP)
        assert await asyncio.gather(*(_post(http, gw.url, secret) for _ in range(3))) == [200] * 3
        _pause(server, signal.SIGCONT)
        admin = aioredis.Redis.from_url(server.url, decode_responses=True)
        try:
            for _ in range(100):  # reconnect, then a flush gives back what Redis took while it stalled
                held = await admin.zcard(keys.inflight("key:k"))
                if held == 0 and await store.status() == "ok":
                    break
                await asyncio.sleep(0.1)
            assert held == 0
        finally:
            await admin.aclose()
    finally:
        _pause(server, signal.SIGCONT)
        server.stop()


LIMITS_SMALL = {"rpm": 40, "concurrency": 2}  # leases of one request
LIMITS_WIDE = {"rpm": 1000, "concurrency": 8}  # leases of 20 requests


async def test_a_paid_balance_survives_redis_starting_after_the_gateway(
    tmp_path: Path, make_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    """A configured paid balance (an account without a balance API) is put in Redis once Redis is reachable, even
    when the gateway started first, and again after Redis restarted empty: the cluster-wide figure the plan
    shows is the configured balance less what was spent, never a small negative number."""
    server = RedisServer(tmp_path / "redis")  # not started yet

    def edit(raw: dict[str, Any]) -> None:
        raw["providers"]["qwen"]["account"] = {"paid_balance": 100.0}
        raw["routes"]["q"] = {"strategy": "priority", "candidates": [{"provider": "qwen", "model": "qwen-plus"}]}

    try:
        store = RedisStore.from_url(server.url)
        gw = await make_gateway(edit, store=store)
        server.start()
        for restart in (False, True):
            if restart:
                server.stop()
                server.start()
            for _ in range(100):  # the store reconnects with backoff
                if await store.status() == "ok" and await _post(http, gw.url, CLIENT_KEY, "q") == 200:
                    break
                await asyncio.sleep(0.1)
            assert [await _post(http, gw.url, CLIENT_KEY, "q") for _ in range(3)] == [200] * 3
            _, plan = await call(http, gw, "GET", "/admin/plan")  # flushes the books, reads the cluster's
            assert 99.0 < plan["paid_balance_cny"]["qwen"] <= 100.0, (restart, plan["paid_balance_cny"])
            admin = aioredis.Redis.from_url(server.url, decode_responses=True)
            left = int(await admin.get(keys.paid_remaining("qwen")) or 0)
            await admin.aclose()
            assert 99_000_000 < left < 100_000_000  # µ¥: the balance less what the requests cost
    finally:
        server.stop()


async def test_a_hand_edited_health_entry_neither_stops_the_start_nor_the_health_sync(
    make_gateway: GatewayFactory, redis_url: str
) -> None:
    """A cooldown in Redis whose end was hand-edited to no number: the gateway starts (it took the entry as long
    expired, logged once) and serves from that account; an event carrying such an end is skipped the same way, and
    a real cooldown (of ds-b) another instance publishes after it still reaches this one."""
    r = aioredis.Redis.from_url(redis_url)
    await r.hset(keys.HEALTH, keys.cooldown_field("ds-a"), "soon|cooldown:overloaded")
    with structlog.testing.capture_logs() as logs:
        gw = await make_gateway(store=RedisStore.from_url(redis_url))
        served = await gw.client().chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
        assert served.headers["x-qiao-provider"] == "ds-a"
        await r.publish(keys.EVENTS, f"set|{keys.cooldown_field('ds-a')}|later|overloaded")
        other = RedisStore.from_url(redis_url)
        await other.start()
        now = time.time()
        await other.cool_down("ds-b", now + 600, "overloaded", now)
        t0 = time.monotonic()
        while gw.gw.store.health("ds-b", "deepseek-chat", time.time()).available:
            assert time.monotonic() - t0 < 5.0, "the cooldown never reached the gateway"
            await asyncio.sleep(0.05)
        await other.close()
    await r.aclose()
    unread = [e for e in logs if e["event"] == "health_entry_unreadable"]
    assert [e["value"] for e in unread] == ["soon", "later"]
    assert not [e for e in logs if "exc_info" in e or "exception" in e]
