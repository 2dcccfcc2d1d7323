"""What each client key spent: books per key, route, provider and UTC day, and each key's totals today and this
month (what its budgets are checked against).

Spend is the list-price value of what a key's requests consumed (``Cost.paid + Cost.granted``): a budget
limits what a key may use, whoever pays the vendor. Kept by the ledger (:meth:`MemoryLedger.book` adds each
charge that names a client key); the Redis ledger also queues the increments (:func:`emit`, applied exactly
once with the rest of its books) and pulls the cluster-wide totals of the keys that have budgets every 2 s
(:func:`pull`), so a budget holds across instances within what they book in that time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from balancer.state import keys
from balancer.state.batch import count

DAY_TTL = 40 * 86400
MONTH_TTL = 400 * 86400
FIELDS = ("requests", "tokens", "micro", "paid")


class ClientRow(msgspec.Struct, kw_only=True):
    day: str  # YYYYMMDD, UTC
    client: str  # the client key's name
    route: str
    provider: str
    requests: int = 0
    tokens: int = 0
    micro: int = 0  # list-price value, µ¥ (what budgets count)
    paid: int = 0  # the part paid from the provider's balance (the rest came from grants), µ¥


class ClientBooks:
    """One process's view: rows per (day, client, route, provider); totals per (client, day or month)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, str], ClientRow] = {}
        self.spent: dict[tuple[str, str], int] = {}  # (client, YYYYMMDD or YYYYMM) -> µ¥

    def add(self, client: str, route: str, provider: str, value: tuple[int, int, int], day: str, month: str) -> None:
        """Book one request: ``value`` is (tokens, list value µ¥, paid µ¥)."""
        tokens, micro, paid = value
        row = self.rows.get((day, client, route, provider))
        if row is None:
            row = self.rows[day, client, route, provider] = ClientRow(
                day=day, client=client, route=route, provider=provider
            )
        row.requests += 1
        row.tokens += tokens
        row.micro += micro
        row.paid += paid
        for period in (day, month):
            self.spent[client, period] = self.spent.get((client, period), 0) + micro

    def since(self, first_day: str) -> list[ClientRow]:
        return [msgspec.structs.replace(r) for r in self.rows.values() if r.day >= first_day]


Add = Callable[..., None]  # Counters.add(key, delta, field="", ttl=0)


def emit(add: Add, client: str, route: str, provider: str, value: tuple[int, int, int], day: str, month: str) -> None:
    """Queue one booking's increments for Redis (``state.batch.Counters.add``)."""
    book, prefix = keys.client_book(client, day), f"{route}|{provider}|"
    for name, delta in zip(FIELDS, (1, *value), strict=True):
        if delta:
            add(book, delta, prefix + name, DAY_TTL)
    add(keys.client_spent(client, day), value[1], ttl=DAY_TTL)
    add(keys.client_spent(client, month), value[1], ttl=MONTH_TTL)


async def pull(client: Any, books: ClientBooks, names: Iterable[str], periods: tuple[str, str], unsent: Any) -> None:
    """Adopt the cluster-wide totals of ``names`` (client keys) for ``periods`` (today, this month), plus what
    this process booked and has not sent (``unsent(key)``)."""
    wanted = [(n, p) for n in sorted(names) for p in periods]
    if not wanted:
        return
    values = await client.mget([keys.client_spent(n, p) for n, p in wanted])
    for (n, p), value in zip(wanted, values, strict=True):
        if value is not None:
            books.spent[n, p] = count(keys.client_spent(n, p), value) + unsent(keys.client_spent(n, p))


async def read_rows(client: Any, days: list[str]) -> list[ClientRow]:
    """Every client key's rows on ``days``, cluster-wide (the admin spend view; off the request path);
    :class:`~balancer.state.batch.Unreadable`, naming the key, when a field holds no integer."""
    names = sorted(str(n) for n in await client.smembers(keys.CLIENTS))
    pipe = client.pipeline(transaction=False)
    for n in names:
        for d in days:
            pipe.hgetall(keys.client_book(n, d))
    got = await pipe.execute()
    rows: dict[tuple[str, str, str, str], ClientRow] = {}
    for i, fields in enumerate(got):
        n, d = names[i // len(days)], days[i % len(days)]
        for f, v in (fields or {}).items():
            route, provider, what = str(f).rsplit("|", 2)
            row = rows.setdefault((d, n, route, provider), ClientRow(day=d, client=n, route=route, provider=provider))
            setattr(row, what, count(keys.client_book(n, d), v))
    return list(rows.values())
