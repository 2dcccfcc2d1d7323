"""Batched counters reach Redis exactly once: a lost reply, a script cache flushed by a restart and an
unreachable Redis neither double a count nor drop one (real redis-server; a real TCP proxy loses replies)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError, NoScriptError, RedisError

from balancer.config import Limits
from balancer.config_failover import Breaker
from balancer.state import keys
from balancer.state.batch import Counters
from balancer.state.connect import client_for
from balancer.state.redis import RedisStore
from tests.redis_server import RedisServer

USAGE = keys.usage("acct", "20261202")
TRAFFIC = "qiao:v1:traffic:{chat}:1"


class Proxy:
    """A TCP proxy to Redis that, while ``lose_replies`` is set, forwards commands but closes the client's
    connection instead of passing a reply back: Redis has applied what the client sees as failed."""

    def __init__(self, port: int, lose_some: random.Random | None = None) -> None:
        self.port = port
        self.lose_replies = False
        self.lose_some = lose_some  # when given: each reply is lost with probability 0.3
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Proxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.port)

        async def upstream() -> None:
            while data := await reader.read(65536):
                up_w.write(data)
                await up_w.drain()

        async def downstream() -> None:
            while data := await up_r.read(65536):
                if self.lose_replies or (self.lose_some is not None and self.lose_some.random() < 0.3):
                    return
                writer.write(data)
                await writer.drain()

        with contextlib.suppress(OSError):
            await asyncio.wait(
                [asyncio.create_task(upstream()), asyncio.create_task(downstream())],
                return_when=asyncio.FIRST_COMPLETED,
            )
        for w in (writer, up_w):
            w.close()


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])


async def test_a_lost_reply_is_resent_and_not_counted_twice(redis_url: str, admin: aioredis.Redis) -> None:
    """Redis applied a batch but its reply never came back: the send fails, the batch is kept, and the
    resend is ignored by apply.lua — the counters hold each increment once."""
    async with Proxy(port_of(redis_url)) as proxy:
        client, _ = client_for(proxy.url)
        counters = Counters()
        counters.add(USAGE, 1, "requests", ttl=60)
        counters.add(USAGE, 40, "tokens", ttl=60)
        counters.add(TRAFFIC, 40)
        await counters.send(client)  # loads apply.lua, applies batch 1
        counters.add(USAGE, 2, "requests")
        counters.add(TRAFFIC, 7)
        proxy.lose_replies = True
        with pytest.raises((RedisConnectionError, OSError)):
            await counters.send(client)
        assert await admin.hget(USAGE, "requests") == "3"  # applied, though the client saw a failure
        assert counters.unsent(USAGE, "requests") == 2 and counters.unsent(TRAFFIC) == 7
        proxy.lose_replies = False
        counters.add(TRAFFIC, 1)  # newer increments go in the next batch, behind the resend
        await counters.send(client)
        assert not counters
        await client.aclose()
    assert await admin.hgetall(USAGE) == {"requests": "3", "tokens": "40"}
    assert await admin.get(TRAFFIC) == "48"
    assert 0 < await admin.ttl(USAGE) <= 60 and await admin.ttl(TRAFFIC) == -1


async def test_what_was_held_back_goes_with_the_first_send_that_works(redis_url: str, admin: aioredis.Redis) -> None:
    """With two batches waiting (Redis away), new increments stay open; the first send that works applies
    the two (each once) and then what stayed open, so a single flush at shutdown leaves nothing behind."""
    async with Proxy(port_of(redis_url)) as proxy:
        client, _ = client_for(proxy.url)
        counters = Counters()
        proxy.lose_replies = True
        for n in (1, 10, 100):
            counters.add(TRAFFIC, n)
            with pytest.raises((RedisConnectionError, OSError)):
                await counters.send(client)
        assert counters.unsent(TRAFFIC) == 111  # two batches waiting, the third increment held open
        proxy.lose_replies = False
        await counters.send(client)
        assert not counters
        await client.aclose()
    assert await admin.get(TRAFFIC) == "111"


async def test_overlapping_sends_with_lost_replies_count_each_increment_once(
    redis_url: str, admin: aioredis.Redis
) -> None:
    """Sends overlap (the flusher, a recovery, a snapshot, close) while replies are lost at random: every
    increment still lands exactly once (sends are serialised; one finishing never drops another's batch)."""
    async with Proxy(port_of(redis_url), lose_some=random.Random(5)) as proxy:
        client, _ = client_for(proxy.url)
        counters = Counters()
        total = 0

        async def add_and_send(n: int) -> None:
            nonlocal total
            counters.add(TRAFFIC, n)
            total += n
            with contextlib.suppress(RedisError, OSError):
                await counters.send(client)

        for _ in range(30):
            await asyncio.gather(*(add_and_send(n) for n in (1, 10, 100)))
        proxy.lose_some = None
        while counters:
            await counters.send(client)
        await client.aclose()
    assert int(await admin.get(TRAFFIC)) == total == 30 * 111


async def test_two_processes_and_a_flushed_script_cache(redis_url: str, admin: aioredis.Redis) -> None:
    """Two origins' batches (each numbered from 1) add up; after SCRIPT FLUSH (a restarted Redis) the send
    fails with NOSCRIPT, loads the script again on the next one and applies the batch once."""
    client, _ = client_for(redis_url)
    a, b = Counters(), Counters()
    for c, n in ((a, 5), (b, 11)):
        c.add(TRAFFIC, n)
        await c.send(client)
    await admin.script_flush()
    a.add(TRAFFIC, 100)
    with pytest.raises(NoScriptError):
        await a.send(client)
    await a.send(client)
    await client.aclose()
    assert await admin.get(TRAFFIC) == "116"


async def test_discard_drops_pending_increments_of_a_key(redis_url: str, admin: aioredis.Redis) -> None:
    """A key SET to an authoritative figure (a vendor's balance) loses the increments still queued for it,
    open or in a batch that failed; other keys keep theirs."""
    client, _ = client_for(redis_url)
    counters = Counters()
    counters.add("qiao:v1:{acct:x}:paid:remaining", -30)
    counters.add(TRAFFIC, 9)
    await admin.acl_setuser("nobody", enabled=True, nopass=True, commands=["+ping"])  # no scripts: sends fail
    denied, _ = client_for(redis_url.replace("redis://", "redis://nobody@"))
    with pytest.raises(NoPermissionError):
        await counters.send(denied)
    counters.add("qiao:v1:{acct:x}:paid:remaining", -5)
    counters.discard("qiao:v1:{acct:x}:paid:remaining")
    assert counters.unsent("qiao:v1:{acct:x}:paid:remaining") == 0 and counters.unsent(TRAFFIC) == 9
    await counters.send(client)
    for c in (client, denied):
        await c.aclose()
    assert await admin.get("qiao:v1:{acct:x}:paid:remaining") is None and await admin.get(TRAFFIC) == "9"


async def test_store_recovers_when_its_first_flush_after_a_reconnect_fails(tmp_path: Path) -> None:
    """Redis answers PING and the health resync but refuses the accounting flush (here: an ACL): the store
    stays degraded and keeps retrying instead of declaring itself recovered; once the flush is allowed it
    recovers and every request it served is counted once."""
    server = RedisServer(tmp_path / "redis").start()
    admin = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        await admin.acl_setuser("gw", enabled=True, passwords=["+pw"], keys=["*"], channels=["*"], commands=["+@all"])
        store = RedisStore.from_url(server.url.replace("redis://", "redis://gw:pw@"), flush_s=0.02)
        await store.start()
        breaker, now = Breaker(), 1_800_000_000.0
        await admin.acl_setuser("gw", enabled=True, commands=["-evalsha"])  # before the requests: none flushed
        for _ in range(3):
            adm = await store.admit("acct", "m", Limits(), 10, breaker, now)
            await store.settle(adm, 10, "ok", 1.0, breaker, now)
        for _ in range(100):
            await asyncio.sleep(0.02)
            if store.degraded:
                break
        assert store.degraded
        await asyncio.sleep(0.5)  # several recovery rounds: PING and the resync work, the flush does not
        assert store.degraded and await store.status() == "degraded"
        await admin.acl_setuser("gw", enabled=True, commands=["+evalsha"])
        for _ in range(200):
            await asyncio.sleep(0.05)
            if not store.degraded and not store.accounting:
                break
        assert await store.status() == "ok"
        usage = keys.usage("acct", "20270115")
        assert await admin.hgetall(usage) == {"requests": "3", "tokens": "30"}
        await store.close()
    finally:
        await admin.aclose()
        server.stop()
