"""The ledger contract: every ledger (memory here; Redis joins by adding to LEDGERS) passes these.

Time is virtual: each test passes ``now`` explicitly. Money is integer µ¥ (1e-6 CNY).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from balancer.config import Account, GrantConfig, Money
from balancer.credit.ledger import PAID, AccountBook, Charge, Ledger, MemoryLedger, Snapshot, split
from balancer.credit.pricing import MICRO, Tariff, resolve_grants
from tests.redis_server import RedisServer

T0 = dt.datetime(2026, 11, 10, 12, tzinfo=dt.UTC).timestamp()
DAY = 86400.0
TARIFF = Tariff(input=2.0, output=8.0, cached_input=0.5)  # µ¥ per token = CNY per million

LedgerFactory = Callable[[Mapping[str, AccountBook]], Awaitable[Ledger]]
LEDGERS: dict[str, LedgerFactory] = {}


async def _memory(books: Mapping[str, AccountBook]) -> Ledger:
    return MemoryLedger(books)


LEDGERS["memory"] = _memory


def books(paid: float | None = 100.0) -> dict[str, AccountBook]:
    account = Account(
        grants=[
            GrantConfig(name="late", tokens=1_000, models=["m"], expires=dt.date(2026, 11, 30)),
            GrantConfig(name="early", tokens=500, models=["m"], expires=dt.date(2026, 11, 20)),
            GrantConfig(name="voucher", amount=1.0, expires=dt.date(2026, 12, 31)),
        ]
    )
    specs = tuple(resolve_grants("p", account, Money()))
    tariffs = {"m": TARIFF, "other": TARIFF}
    return {"p": AccountBook(specs, tariffs, None if paid is None else round(paid * MICRO))}


LEDGERS["redis"] = _memory  # placeholder: the redis param is built from the private redis-server


@pytest.fixture(params=sorted(LEDGERS))
async def make(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[Callable[..., Awaitable[Ledger]]]:
    """A ledger factory; the Redis one runs against a flushed private redis-server."""
    made: list[Ledger] = []
    client = None
    if request.param == "redis":
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        await client.flushall()

    async def factory(b: Mapping[str, AccountBook] | None = None) -> Ledger:
        if client is None:
            return await LEDGERS[request.param](books() if b is None else b)
        from balancer.credit.ledger_redis import RedisLedger

        ledger = RedisLedger(client, books() if b is None else b)
        await ledger.start()
        made.append(ledger)
        return ledger

    yield factory
    for ledger in made:
        await ledger.close()
    if client is not None:
        await client.aclose()


def charge(prompt: int, completion: int = 0, model: str = "m", **kw: object) -> Charge:
    return Charge("p", model, "chat", prompt, completion, **kw)  # type: ignore[arg-type]


def used(snap: Snapshot) -> dict[str, int]:
    return {g.grant.name: g.used for g in snap.grants}


async def test_grants_debited_earliest_expiry_first(make: Callable[..., Awaitable[Ledger]]) -> None:
    """A covered request is debited from the grant that expires first, then the next one."""
    ledger = await make()
    ledger.book(charge(400), T0)
    ledger.book(charge(300), T0)
    await ledger.flush()
    assert used(await ledger.snapshot(T0)) == {"early": 500, "late": 200, "voucher": 0}


async def test_request_straddling_grants_and_paid_is_split(make: Callable[..., Awaitable[Ledger]]) -> None:
    """When token grants run out mid-request, the rest goes to the money voucher, then to the paid balance."""
    ledger = await make()
    ledger.book(charge(1_400), T0)  # 1,400 of 1,500 grant tokens
    ledger.book(charge(100, 100), T0)  # 100 tokens from "late"; the other half of its 1,000 µ¥ from the voucher
    ledger.book(charge(0, 200_000), T0)  # 1.6 ¥: the voucher's 0.9995 ¥ left, then 0.6005 ¥ paid
    await ledger.flush()
    snap = await ledger.snapshot(T0)
    assert used(snap) == {"early": 500, "late": 1_000, "voucher": MICRO}
    spent = 1_600_000 - (MICRO - 500)
    assert snap.paid_remaining["p"] == 100 * MICRO - spent
    assert snap.paid_today["p"] == spent


async def test_uncovered_model_and_expired_grant_are_paid(make: Callable[..., Awaitable[Ledger]]) -> None:
    """A model no token grant covers uses the all-models voucher; after every grant expired, the paid balance."""
    ledger = await make()
    ledger.book(charge(1_000, model="other"), T0)
    ledger.book(charge(1_000), T0 + 60 * DAY)
    await ledger.flush()
    snap = await ledger.snapshot(T0 + 60 * DAY)
    assert used(snap) == {"early": 0, "late": 0, "voucher": 2_000}
    assert snap.paid_remaining["p"] == 100 * MICRO - 2_000


async def test_rows_per_day_model_and_bucket_mark_estimates(make: Callable[..., Awaitable[Ledger]]) -> None:
    """Bookings are kept per UTC day, model and grant (or paid), and estimated usage is counted as such."""
    ledger = await make()
    ledger.book(charge(100, 10), T0)
    ledger.book(charge(100, 10, estimated=True), T0)
    ledger.book(charge(50, model="other"), T0 + DAY)
    await ledger.flush()
    snap = await ledger.snapshot(T0 + DAY)
    rows = {(r.day, r.model, r.bucket): (r.requests, r.tokens, r.micro, r.estimated) for r in snap.rows}
    assert rows == {
        ("20261110", "m", "early"): (2, 220, 2 * (200 + 80), 1),
        ("20261111", "other", "voucher"): (1, 50, 100, 0),
    }


async def test_cached_prompt_tokens_cost_the_cached_price(make: Callable[..., Awaitable[Ledger]]) -> None:
    """Cache hits are priced at the cached-input price."""
    ledger = await make(books())
    ledger.book(charge(1_000, 0, model="other", cached=800), T0)
    await ledger.flush()
    snap = await ledger.snapshot(T0)
    assert [r.micro for r in snap.rows] == [200 * 2 + 800 * 0.5]


async def test_reconcile_vendor_figures_win_and_are_logged(make: Callable[..., Awaitable[Ledger]]) -> None:
    """A balance poll replaces the paid balance and the money grants' remainder; the difference is logged."""
    ledger = await make()
    ledger.book(charge(0, 10_000, model="other"), T0)  # 0.08 ¥ from the voucher
    with capture_logs() as logs:
        rec = await ledger.reconcile("p", granted=0.5, paid=90.0, now=T0)
    assert rec.paid_diff == -10 * MICRO
    assert rec.granted_diff == 500_000 - (MICRO - 80_000)
    snap = await ledger.snapshot(T0)
    assert snap.paid_remaining["p"] == 90 * MICRO
    assert used(snap)["voucher"] == 500_000
    assert logs[0]["event"] == "ledger_reconciled" and logs[0]["paid_diff_cny"] == -10.0


async def test_reconcile_can_give_money_back(make: Callable[..., Awaitable[Ledger]]) -> None:
    """When the vendor shows more grant money than the ledger, the ledger gives it back, never below zero used."""
    ledger = await make()
    ledger.book(charge(0, 50_000, model="other"), T0)
    await ledger.reconcile("p", granted=1.0, paid=None, now=T0)
    assert used(await ledger.snapshot(T0))["voucher"] == 0


async def test_reconfigure_keeps_counters(make: Callable[..., Awaitable[Ledger]]) -> None:
    """A config reload installs new accounts but keeps what grants have already used."""
    ledger = await make()
    ledger.book(charge(100), T0)
    ledger.configure(books(paid=5.0))
    snap = await ledger.snapshot(T0)
    assert used(snap)["early"] == 100
    assert snap.paid_remaining["p"] == 100 * MICRO


async def test_traffic_and_mix_per_route(make: Callable[..., Awaitable[Ledger]]) -> None:
    """The planner's inputs: tokens per route per hour, and the route's prompt share."""
    ledger = await make()
    ledger.book(charge(300, 100), T0)
    ledger.book(charge(100, 100), T0 + 3600)
    snap = await ledger.snapshot(T0 + 3600)
    hour = int(T0 // 3600)
    assert snap.traffic == {"chat": {hour: 400, hour + 1: 200}}
    assert snap.input_share["chat"] == pytest.approx(400 / 600)


def test_split_is_pure_and_exact() -> None:
    """The split rule shared with a Redis script: units per grant, then paid, with token and money shares."""
    specs = books()["p"].grants
    parts = split(specs, {"p/early": 450}, "m", 100, 1_000, T0).parts
    assert parts == [("early", 50, 50, 500), ("late", 50, 50, 500)]
    parts = split(specs, {"p/early": 500, "p/late": 1_000}, "m", 30, 100, T0).parts
    assert parts == [("voucher", 100, 30, 100)]
    assert split((), {}, "m", 10, 70, T0).parts == [(PAID, 70, 10, 70)]


async def test_redis_ledger_forecasts_from_every_instance(redis_server: RedisServer) -> None:
    """Two gateway instances on one Redis: each one's snapshot carries the traffic and prompt mix booked by
    both, so their planners forecast the cluster's demand (not half of it each)."""
    import redis.asyncio as aioredis

    from balancer.credit.ledger_redis import RedisLedger

    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    a, b = RedisLedger(client, books()), RedisLedger(client, books())
    try:
        a.book(charge(300, 100), T0)
        b.book(charge(100, 100), T0)
        b.book(Charge("p", "m", "other", 50, 0), T0 + 3600)
        await a.flush()
        await b.flush()  # each instance sends its books every 50 ms
        hour = int(T0 // 3600)
        for ledger in (a, b):
            snap = await ledger.snapshot(T0 + 3600)
            assert snap.traffic == {"chat": {hour: 600}, "other": {hour + 1: 50}}
            assert snap.input_share["chat"] == pytest.approx(400 / 600)
    finally:
        await client.aclose()


async def test_redis_ledger_spend_caps_see_every_instance(redis_server: RedisServer) -> None:
    """Paid spend today and this month (what spend caps are checked against) is the cluster's: each instance
    sees what the others spent, not only its own."""
    import redis.asyncio as aioredis

    from balancer.credit.ledger_redis import RedisLedger
    from balancer.credit.pricing import day_key

    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    a, b = RedisLedger(client, books()), RedisLedger(client, books())
    try:
        a.book(charge(2_000_000), T0)
        b.book(charge(3_000_000), T0)
        own = [ledger._paid_day["p", day_key(T0)] for ledger in (a, b)]
        assert min(own) > 0
        await a.flush()
        await b.flush()
        for ledger in (a, b):
            snap = await ledger.snapshot(T0)
            assert snap.paid_today["p"] == snap.paid_month["p"] == sum(own)
    finally:
        await client.aclose()


async def test_bookings_redis_cannot_take_at_close_are_logged_as_lost(tmp_path: Path) -> None:
    """A ledger closed while its Redis is out of reach cannot send what it booked: it says so, once, with how
    many tokens' bookings are lost (an operator reconciles them from the request_done lines), instead of
    dropping them without a word."""
    import redis.asyncio as aioredis

    from balancer.credit.ledger_redis import RedisLedger

    server = RedisServer(tmp_path / "redis").start()
    client = aioredis.Redis.from_url(server.url, decode_responses=True, socket_connect_timeout=0.5)
    try:
        ledger = RedisLedger(client, books())
        await ledger.start()
        server.stop()
        ledger.book(charge(400), T0)
        ledger.book(charge(300), T0)
        with capture_logs() as logs:
            await ledger.close()
        lost = [e for e in logs if e["event"] == "ledger_unsent_at_close"]
        assert len(lost) == 1 and lost[0]["tokens"] == 700 and lost[0]["log_level"] == "error"
    finally:
        await client.aclose()
        server.stop()


async def test_a_counter_holding_no_integer_stops_neither_start_nor_bookings(redis_server: RedisServer) -> None:
    """A grant counter hand-edited in Redis to "1.5e3": the ledger still starts, logs the key once, its snapshot
    says what it could not read (the planner refuses to plan on it), and its loop lives on: pulls adopt the
    counter once it is an integer again (logged), and bookings made after another bad pull still reach Redis."""
    import asyncio
    import time

    import redis.asyncio as aioredis

    from balancer.credit.ledger_redis import RedisLedger
    from balancer.state import keys

    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    counter = keys.grant_used("p", "early")
    await client.set(counter, "1.5e3")
    ledger = RedisLedger(client, books())

    async def until(check: Callable[[], Awaitable[bool]]) -> None:
        for _ in range(200):  # the loop pulls every 2 s
            if await check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("not within 10 s")

    async def readable() -> bool:
        return ledger.unread == ""

    async def unreadable() -> bool:
        return ledger.unread != ""

    try:
        with capture_logs() as logs:
            await ledger.start()
            snap = await ledger.snapshot(time.time())
            assert counter in snap.unread and "'1.5e3'" in snap.unread
            await client.set(counter, "200")
            await until(readable)
            assert used(await ledger.snapshot(time.time()))["early"] == 200
            await client.set(counter, "x")
            await until(unreadable)
            now = time.time()
            ledger.book(charge(70), now)
            traffic = keys.traffic("chat", int(now // 3600))

            async def booked() -> bool:
                return await client.get(traffic) == "70"

            await until(booked)
        events = [e["event"] for e in logs]
        assert events.count("ledger_counter_unreadable") == 2 and events.count("ledger_counter_readable_again") == 1
    finally:
        await ledger.close()
        await client.aclose()
