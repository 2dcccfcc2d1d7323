"""The ledger shared by every gateway instance through Redis.

Each instance prices and splits a charge locally (the same pure ``split`` as the memory ledger), books
it in its local books at once, and queues the increments; a flusher sends them in one pipeline every
50 ms (and on shutdown), so every booking reaches Redis exactly once — INCRBY/HINCRBY only, no
read-modify-write. Every 2 s an instance pulls the cluster-wide grant usage and paid balances, so the
grant a charge is debited from is decided on state at most a couple of seconds old (near a grant's
end the overlap is bounded by what the instances booked in that window). ``snapshot`` reads the
cluster-wide figures, which is what the planner and ``/admin/plan`` see. A counter that holds no integer
(a hand edit) is not adopted: it is logged once, the pulls go on, and a snapshot says so in ``unread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from redis.exceptions import RedisError

from balancer import tasks
from balancer.credit import ledger as L
from balancer.credit import spend
from balancer.credit.pricing import day_key, month_key
from balancer.logs import Lasting
from balancer.state import keys
from balancer.state.batch import Counters, Unreadable, count

log = structlog.get_logger("balancer.credit.ledger_redis")

FLUSH_S = 0.05
PULL_S = 2.0
DAY_TTL = 40 * 86400
MONTH_TTL = 400 * 86400


class RedisLedger(L.MemoryLedger):
    name = "redis"

    def __init__(self, client: Any, books: Mapping[str, L.AccountBook] | None = None) -> None:
        super().__init__(books)
        self.client = client
        self.counters = Counters()  # every increment, applied exactly once
        self._task: asyncio.Task[None] | None = None
        self._routes: set[str] = set()  # routes this instance has seen traffic on
        self._new_routes: set[str] = set()  # ... and not yet added to keys.ROUTES
        self.flushes = 0
        self._closing = False
        self._watched: frozenset[str] = frozenset()  # client keys with budgets: their totals are pulled
        self._new_clients: set[str] = set()  # client keys booked here and not yet added to keys.CLIENTS
        self._clients_named: set[str] = set()  # ... and those already added
        self._unread = Lasting(log, "ledger_counter_unreadable", "ledger_counter_readable_again")

    async def _pull_all(self, now: float | None = None) -> None:
        """Pull the cluster's figures (with ``now``, the planner's too); a counter holding no integer stops the
        pull and is noted in ``unread``, logged once per distinct reason (and its end too)."""
        try:
            await self.pull()
            if now is None:
                await self.pull_clients(time.time())
            else:
                await self.pull_planning(now)
        except Unreadable as e:
            self._unread.fault(str(e), kept="this instance's figures")
            return
        self._unread.ok()

    @property
    def unread(self) -> str:
        """Why the last pull could not read a counter ("": it could)."""
        return self._unread.reason

    async def start(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._init_paid()
            await self._pull_all()
        self._task = tasks.spawn(self._loop, "ledger-flusher")

    async def close(self) -> None:
        """Stop the flusher and send what is queued; what Redis cannot take now is lost, and logged as such."""
        self._closing = True
        await tasks.stop(self._task)
        await self.flush()
        if self.counters:
            tokens = self.counters.unsent_fields("|tokens")
            log.error("ledger_unsent_at_close", tokens=tokens, why="Redis out of reach: these bookings are lost")

    def _emitted(self, charge: L.Charge, bucket: str, units: int, value: tuple[int, int], day: str, month: str) -> None:
        p = charge.provider
        add = self.counters.add
        if bucket == L.PAID:
            if p in self._paid:
                add(keys.paid_remaining(p), -units)
            add(keys.paid_day(p, day), units, ttl=DAY_TTL)
            add(keys.paid_month(p, month), units, ttl=MONTH_TTL)
        else:
            add(keys.grant_used(p, bucket), units)
        book = keys.book_day(p, day)
        prefix = f"{charge.model}|{bucket}|"
        tokens, micro = value
        add(book, 1, prefix + "requests", DAY_TTL)
        add(book, tokens, prefix + "tokens", DAY_TTL)
        add(book, micro, prefix + "micro", DAY_TTL)
        if charge.estimated:
            add(book, 1, prefix + "estimated", DAY_TTL)

    def _emitted_traffic(self, charge: L.Charge, hour: int) -> None:
        if charge.route not in self._routes:
            self._routes.add(charge.route)
            self._new_routes.add(charge.route)
        tokens = charge.prompt + charge.completion
        self.counters.add(keys.traffic(charge.route, hour), tokens, ttl=L.TRAFFIC_KEEP_H * 3600)
        mix = keys.mix(charge.route)
        self.counters.add(mix, charge.prompt, "prompt")
        self.counters.add(mix, tokens, "all")

    async def flush(self) -> None:
        """Send the queued increments (exactly once: ``state.batch``) and new route names in one pipeline;
        if it fails they stay queued and go with the next flush that works."""
        routes, clients = set(self._new_routes), set(self._new_clients)
        if not (self.counters or routes or clients):
            return
        self._new_routes.clear()
        self._new_clients.clear()

        def add_names(pipe: Any) -> None:
            if routes:
                pipe.sadd(keys.ROUTES, *sorted(routes))
            if clients:
                pipe.sadd(keys.CLIENTS, *sorted(clients))

        self.flushes += 1
        try:
            await self.counters.send(self.client, add_names if routes or clients else None, self._seed_paid)
        except (RedisError, OSError):
            self._new_routes |= routes
            self._new_clients |= clients

    def _seed_paid(self, pipe: Any) -> None:
        """Before debits land on a paid balance, SET NX it to what Redis should hold before them (this instance's
        figure less its debits not yet applied): a Redis that was down when this instance started, or came back
        empty, gets the balance again instead of a debit counted from zero."""
        for provider, value in self._paid.items():
            key = keys.paid_remaining(provider)
            if pending := self.counters.unsent(key):
                pipe.set(key, value - pending, nx=True)

    async def _init_paid(self) -> None:
        for provider, value in self._paid.items():
            await self.client.set(keys.paid_remaining(provider), value, nx=True)

    async def pull(self) -> None:
        """Adopt the cluster-wide grant usage and paid balances (plus what this instance has not sent)."""
        grants = [(g.key, g.provider, g.name) for b in self._books.values() for g in b.grants]
        paid = list(self._paid)
        names = [keys.grant_used(p, n) for _, p, n in grants]
        names += [keys.paid_remaining(p) for p in paid]
        if not names:
            return
        values = await self.client.mget(names)
        for (key, _, _), name, value in zip(grants, names, values, strict=False):
            if value is not None:
                self._used[key] = count(name, value) + self.counters.unsent(name)
        for p, name, value in zip(paid, names[len(grants) :], values[len(grants) :], strict=True):
            if value is not None:
                self._paid[p] = count(name, value) + self.counters.unsent(name)

    async def _loop(self) -> None:
        last = time.monotonic()
        while not self._closing:
            await asyncio.sleep(FLUSH_S)
            with contextlib.suppress(RedisError, OSError):
                await self.flush()
                if time.monotonic() - last > PULL_S:
                    await self._pull_all()
                    last = time.monotonic()

    def _book_client(self, charge: L.Charge, value: tuple[int, int, int], day: str, month: str) -> None:
        super()._book_client(charge, value, day, month)
        spend.emit(self.counters.add, charge.client, charge.route, charge.provider, value, day, month)
        if charge.client not in self._clients_named:
            self._clients_named.add(charge.client)
            self._new_clients.add(charge.client)

    def watch(self, clients: Iterable[str]) -> None:
        self._watched = frozenset(clients)

    async def pull_clients(self, now: float) -> None:
        """Adopt the cluster-wide spend today and this month of the client keys with budgets."""
        periods = (day_key(now), month_key(now))
        await spend.pull(self.client, self.clients, self._watched, periods, self.counters.unsent)

    async def history(self, now: float, days: int) -> L.History:
        """The cluster's books of the last ``days`` days: every provider's and every client key's (this instance's
        when Redis is out of reach); :class:`Unreadable`, naming the key, when a field holds no integer."""
        with contextlib.suppress(RedisError, OSError):
            await self.flush()
            stamps = [day_key(now - i * 86400) for i in range(days)]
            providers = sorted(self._books)
            pipe = self.client.pipeline(transaction=False)
            for p in providers:
                for d in stamps:
                    pipe.hgetall(keys.book_day(p, d))
            got = await pipe.execute()
            rows: dict[tuple[str, str, str, str], L.Row] = {}
            for i, fields in enumerate(got):
                p, d = providers[i // days], stamps[i % days]
                for f, v in (fields or {}).items():
                    model, bucket, what = str(f).rsplit("|", 2)
                    row = rows.setdefault((d, p, model, bucket), L.Row(day=d, provider=p, model=model, bucket=bucket))
                    setattr(row, what, count(keys.book_day(p, d), v))
            return L.History(rows=list(rows.values()), clients=await spend.read_rows(self.client, stamps))
        return await super().history(now, days)

    async def pull_planning(self, now: float) -> None:
        """Adopt what the planner reads from the whole cluster: traffic per route and hour, each route's
        prompt mix, and each account's paid spend today and this month (spend caps). One pipeline, off the
        hot path; what a failed flush still holds here is added back."""
        routes = sorted(await self.client.smembers(keys.ROUTES))  # clients decode responses (state/connect.py)
        hours = range(int(now // 3600) - L.TRAFFIC_KEEP_H + 1, int(now // 3600) + 1)
        day, month = day_key(now), month_key(now)
        spend = [
            ((p, period), key)
            for p in sorted(self._books)
            for period, key in ((day, keys.paid_day(p, day)), (month, keys.paid_month(p, month)))
        ]
        hourly = {r: [keys.traffic(r, h) for h in hours] for r in routes}
        pipe = self.client.pipeline(transaction=False)
        for r in routes:
            pipe.mget(hourly[r])
            pipe.hgetall(keys.mix(r))
        for _, key in spend:
            pipe.get(key)
        values = await pipe.execute()
        for i, r in enumerate(routes):
            got, mix = values[2 * i], values[2 * i + 1] or {}
            traffic = {
                h: count(k, v or 0) + self.counters.unsent(k) for h, v, k in zip(hours, got, hourly[r], strict=True)
            }
            self._traffic[r] = {h: v for h, v in traffic.items() if v}
            if all_ := count(keys.mix(r), mix.get("all", 0)):
                self._mix[r] = [count(keys.mix(r), mix.get("prompt", 0)), all_]
        for ((p, period), key), v in zip(spend, values[2 * len(routes) :], strict=True):
            if v is not None:
                into = self._paid_day if period == day else self._paid_month
                into[p, period] = count(key, v) + self.counters.unsent(key)

    async def snapshot(self, now: float) -> L.Snapshot:
        with contextlib.suppress(RedisError, OSError):
            await self.flush()
            await self._pull_all(now)
        snap = await super().snapshot(now)
        snap.unread = self.unread
        return snap

    async def reconcile(self, provider: str, granted: float | None, paid: float | None, now: float) -> L.Reconciliation:
        out = await super().reconcile(provider, granted, paid, now)
        with contextlib.suppress(RedisError, OSError):
            if paid is not None:
                await self.client.set(keys.paid_remaining(provider), self._paid[provider])
                self.counters.discard(keys.paid_remaining(provider))
            for g in self._books[provider].grants if provider in self._books else ():
                key = keys.grant_used(provider, g.name)
                await self.client.set(key, self._used.get(g.key, 0))
                self.counters.discard(key)
        return out


async def book_tokens(client: Any, provider: str, day: str | None = None) -> int:
    """Tokens booked cluster-wide for an account on a day (tests, tools)."""
    day = day or day_key(time.time())
    fields = await client.hgetall(keys.book_day(provider, day))
    return sum(count(keys.book_day(provider, day), v) for f, v in fields.items() if str(f).endswith("|tokens"))
