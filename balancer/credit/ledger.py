"""The ledger: every served request priced from its usage and booked once, against a grant or the paid balance.

One Protocol, two ledgers: :class:`MemoryLedger` here (one instance, tests, the simulation) and
:class:`~balancer.credit.ledger_redis.RedisLedger` (shared by every instance). Money is integer µ¥ (see
:mod:`balancer.credit.pricing`). Time is passed in. ``book`` is the hot-path call and must stay a cheap local
update: both ledgers split a charge with the same pure :func:`split` and apply it locally at once; the Redis
ledger also queues the resulting increments, which its flusher applies exactly once (``state.batch``).
``reconcile`` lets balance polls overwrite the ledger's view: the vendor's figure wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import msgspec
import structlog

from balancer.config import Config
from balancer.credit.pricing import MICRO, Grant, Tariff, account_tariffs, day_key, month_key, resolve_grants
from balancer.credit.spend import ClientBooks, ClientRow
from balancer.vendors import REGISTRY

log = structlog.get_logger("balancer.credit.ledger")

PAID = "paid"
TRAFFIC_KEEP_H = 15 * 24  # hours of traffic per route the forecast reads: two of every weekday, and today


@dataclass(frozen=True, slots=True)
class Charge:
    """One served request's usage, as the upstream reported it (or estimated, and marked so)."""

    provider: str
    model: str
    route: str
    prompt: int
    completion: int
    cached: int = 0
    estimated: bool = False
    price_factor: float = 1.0  # of the list price: 0.5 for a vendor's half-price batch API
    client: str = ""  # the client key's name ("" when the gateway runs without keys)


class Cost(NamedTuple):
    """What one charge cost at list price, by who paid: the paid balance, or a grant (µ¥)."""

    paid: int
    granted: int


@dataclass(frozen=True, slots=True)
class AccountBook:
    """What the ledger needs to know about one provider account."""

    grants: tuple[Grant, ...]  # in debit order
    tariffs: Mapping[str, Tariff]  # by model
    paid_balance: int | None = None  # µ¥ at start; None: unknown


@dataclass(frozen=True, slots=True)
class GrantBalance:
    """One grant in a ledger snapshot: the grant, and how much of it is used (its unit: tokens or µ¥)."""

    grant: Grant
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.grant.size - self.used)


class Row(msgspec.Struct, kw_only=True):
    day: str
    provider: str
    model: str
    bucket: str  # a grant's name, or "paid"
    requests: int = 0
    tokens: int = 0
    micro: int = 0  # list-price value, µ¥ (for "paid": the money spent)
    estimated: int = 0  # requests whose usage was estimated


class Snapshot(msgspec.Struct, kw_only=True):
    grants: list[GrantBalance]  # every configured grant, in each account's debit order
    paid_remaining: dict[str, int]  # µ¥, accounts with a known balance
    paid_today: dict[str, int]  # µ¥
    paid_month: dict[str, int]  # µ¥
    rows: list[Row]
    traffic: dict[str, dict[int, int]]  # route -> hour index (epoch // 3600) -> tokens
    input_share: dict[str, float] = {}  # route -> prompt tokens' share of its traffic
    unread: str = ""  # why a cluster counter could not be read ("": all were); this instance's figures stand in


class History(msgspec.Struct, kw_only=True):
    """The books of recent days, cluster-wide: per provider/model/bucket, and per client key/route/provider."""

    rows: list[Row]
    clients: list[ClientRow]


class Reconciliation(msgspec.Struct, kw_only=True):
    provider: str
    granted_diff: int = 0  # µ¥, vendor minus ledger
    paid_diff: int = 0


class Ledger(Protocol):
    def configure(self, books: Mapping[str, AccountBook]) -> None:
        """Install the accounts (start, reload); counters of grants that still exist are kept."""
        ...

    def book(self, charge: Charge, now: float) -> Cost:
        """Price ``charge`` and debit it in the vendor's order; returns what it cost. Hot path: a cheap local
        update."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Flush what is buffered and stop background work."""
        ...

    async def flush(self) -> None:
        """Apply buffered bookings (a no-op for the memory ledger)."""
        ...

    async def snapshot(self, now: float) -> Snapshot: ...

    async def reconcile(self, provider: str, granted: float | None, paid: float | None, now: float) -> Reconciliation:
        """A balance poll's figures (CNY; None: not reported) replace the ledger's; the difference is logged."""
        ...

    def client_spent(self, client: str, now: float) -> tuple[int, int]:
        """What a client key spent today and this month (µ¥, list value). Hot path: a local read (the Redis
        ledger refreshes the keys it watches from the cluster every 2 s)."""
        ...

    def watch(self, clients: Iterable[str]) -> None:
        """The client keys whose spend must be known cluster-wide (those with budgets)."""
        ...

    async def history(self, now: float, days: int) -> History:
        """The books of the last ``days`` UTC days (today included); off the request path."""
        ...


@dataclass(slots=True)
class _Split:
    """How one charge divides: (bucket, units debited from it, tokens, µ¥ of list value)."""

    parts: list[tuple[str, int, int, int]] = field(default_factory=list)


def split(grants: Iterable[Grant], used: Mapping[str, int], model: str, tokens: int, cost: int, now: float) -> _Split:
    """Debit grants covering ``model`` in order, then the paid balance; the same rule the Redis script keeps.

    Integer arithmetic only: a token grant takes tokens and the matching share of the list value, a money
    grant takes µ¥ and the matching share of the tokens; the paid balance takes what is left."""
    out, left_tok, left_cost = _Split(), tokens, cost
    for g in grants:
        if (left_tok <= 0 and left_cost <= 0) or not g.covers(model, now):
            continue
        remaining = g.size - used.get(g.key, 0)
        if remaining <= 0:
            continue
        if g.unit == "tokens" and left_tok > 0:
            units = min(remaining, left_tok)
            part_cost = left_cost if units == left_tok else min(left_cost, cost * units // max(tokens, 1))
            out.parts.append((g.name, units, units, part_cost))
            left_tok, left_cost = left_tok - units, left_cost - part_cost
        elif g.unit == "money" and left_cost > 0:
            units = min(remaining, left_cost)
            part_tok = left_tok if units == left_cost else min(left_tok, tokens * units // max(cost, 1))
            out.parts.append((g.name, units, part_tok, units))
            left_tok, left_cost = left_tok - part_tok, left_cost - units
    if left_tok > 0 or left_cost > 0 or not out.parts:
        out.parts.append((PAID, left_cost, left_tok, left_cost))
    return out


class MemoryLedger:
    """The in-process ledger: one gateway instance, tests and the simulation."""

    name = "memory"

    def __init__(self, books: Mapping[str, AccountBook] | None = None) -> None:
        self._books: dict[str, AccountBook] = {}
        self._used: dict[str, int] = {}  # grant key -> units
        self._paid: dict[str, int] = {}  # provider -> µ¥ left
        self._paid_day: dict[tuple[str, str], int] = {}
        self._paid_month: dict[tuple[str, str], int] = {}
        self._rows: dict[tuple[str, str, str, str], Row] = {}
        self._traffic: dict[str, dict[int, int]] = {}
        self._mix: dict[str, list[int]] = {}  # route -> [prompt tokens, all tokens]
        self.clients = ClientBooks()
        self.configure(books or {})

    def configure(self, books: Mapping[str, AccountBook]) -> None:
        for provider, book in books.items():
            if book.paid_balance is not None and provider not in self._paid:
                self._paid[provider] = book.paid_balance
        self._books = dict(books)

    def book(self, charge: Charge, now: float) -> Cost:
        acct = self._books.get(charge.provider)
        tariff = acct.tariffs.get(charge.model) if acct else None
        cost = tariff.cost(charge.prompt, charge.completion, charge.cached) if tariff else 0
        if charge.price_factor != 1.0:
            cost = round(cost * charge.price_factor)
        tokens = charge.prompt + charge.completion
        grants = acct.grants if acct else ()
        day = day_key(now)
        paid = 0
        for bucket, units, tok, micro in split(grants, self._used, charge.model, tokens, cost, now).parts:
            if bucket == PAID:
                paid += micro
                self._debit_paid(charge.provider, units, day, month_key(now))
            else:
                key = f"{charge.provider}/{bucket}"
                self._used[key] = self._used.get(key, 0) + units
            row = self._rows.get((day, charge.provider, charge.model, bucket))
            if row is None:
                row = Row(day=day, provider=charge.provider, model=charge.model, bucket=bucket)
                self._rows[(day, charge.provider, charge.model, bucket)] = row
            row.requests += 1
            row.tokens += tok
            row.micro += micro
            row.estimated += charge.estimated
            self._emitted(charge, bucket, units, (tok, micro), day, month_key(now) if bucket == PAID else "")
        self._emitted_traffic(charge, int(now // 3600))
        mix = self._mix.setdefault(charge.route, [0, 0])
        mix[0] += charge.prompt
        mix[1] += tokens
        hours = self._traffic.setdefault(charge.route, {})
        hour = int(now // 3600)
        hours[hour] = hours.get(hour, 0) + tokens
        if len(hours) > TRAFFIC_KEEP_H:
            for old in [h for h in hours if h <= hour - TRAFFIC_KEEP_H]:
                del hours[old]
        if charge.client:
            self._book_client(charge, (tokens, cost, paid), day, month_key(now))
        return Cost(paid, cost - paid)

    def _book_client(self, charge: Charge, value: tuple[int, int, int], day: str, month: str) -> None:
        """Book a charge for its client key and route: ``value`` is (tokens, list value, paid) (a shared ledger
        also queues the increments)."""
        self.clients.add(charge.client, charge.route, charge.provider, value, day, month)

    def client_spent(self, client: str, now: float) -> tuple[int, int]:
        spent = self.clients.spent
        return spent.get((client, day_key(now)), 0), spent.get((client, month_key(now)), 0)

    def watch(self, clients: Iterable[str]) -> None:
        return None

    async def history(self, now: float, days: int) -> History:
        first = day_key(now - (days - 1) * 86400)
        rows = [msgspec.structs.replace(r) for r in self._rows.values() if r.day >= first]
        return History(rows=rows, clients=self.clients.since(first))

    def _emitted(self, charge: Charge, bucket: str, units: int, value: tuple[int, int], day: str, month: str) -> None:
        """Hook: one part of a charge was booked locally (a shared ledger queues the increments)."""

    def _emitted_traffic(self, charge: Charge, hour: int) -> None:
        """Hook: a charge's tokens counted toward its route's traffic in ``hour``."""

    def _debit_paid(self, provider: str, micro: int, day: str, month: str) -> None:
        if provider in self._paid:
            self._paid[provider] -= micro
        self._paid_day[provider, day] = self._paid_day.get((provider, day), 0) + micro
        self._paid_month[provider, month] = self._paid_month.get((provider, month), 0) + micro

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def snapshot(self, now: float) -> Snapshot:
        day, month = day_key(now), month_key(now)
        grants = [GrantBalance(g, self._used.get(g.key, 0)) for book in self._books.values() for g in book.grants]
        return Snapshot(
            grants=grants,
            paid_remaining=dict(self._paid),
            paid_today={p: v for (p, d), v in self._paid_day.items() if d == day},
            paid_month={p: v for (p, m), v in self._paid_month.items() if m == month},
            rows=[msgspec.structs.replace(r) for r in self._rows.values()],
            traffic={r: dict(h) for r, h in self._traffic.items()},
            input_share={r: m[0] / m[1] for r, m in self._mix.items() if m[1]},
        )

    async def reconcile(self, provider: str, granted: float | None, paid: float | None, now: float) -> Reconciliation:
        out = Reconciliation(provider=provider)
        if paid is not None:
            vendor = round(paid * MICRO)
            out.paid_diff = vendor - self._paid.get(provider, vendor)
            self._paid[provider] = vendor
        if granted is not None:
            book = self._books.get(provider)
            money = [g for g in (book.grants if book else ()) if g.unit == "money" and g.starts <= now < g.expires]
            ours = sum(g.size - self._used.get(g.key, 0) for g in money)
            out.granted_diff = round(granted * MICRO) - ours
            _spread(money, self._used, -out.granted_diff)
        if out.paid_diff or out.granted_diff:
            log.warning(
                "ledger_reconciled",
                provider=provider,
                granted_diff_cny=out.granted_diff / MICRO,
                paid_diff_cny=out.paid_diff / MICRO,
            )
        return out


def _spread(grants: list[Grant], used: dict[str, int], extra_used: int) -> None:
    """Mark ``extra_used`` more µ¥ used (negative: give back), in debit order (give back in reverse)."""
    order = grants if extra_used > 0 else list(reversed(grants))
    for g in order:
        now_used = used.get(g.key, 0)
        step = min(extra_used, g.size - now_used) if extra_used > 0 else max(extra_used, -now_used)
        used[g.key] = now_used + step
        extra_used -= step
        if extra_used == 0:
            return
    if order and extra_used:  # the vendor shows more or less than the grants can hold: the last one absorbs it
        used[order[-1].key] = used.get(order[-1].key, 0) + extra_used


def books_from_config(cfg: Config) -> dict[str, AccountBook]:
    """Each provider's grants (debit order), tariffs (catalogue, overridden by ``prices``) and paid balance."""
    books = {}
    for name, prov in cfg.providers.items():
        paid = prov.account.paid_balance
        books[name] = AccountBook(
            grants=tuple(resolve_grants(name, prov.account, cfg.money)),
            tariffs=account_tariffs(REGISTRY[prov.vendor].models, prov.prices, cfg.money),
            paid_balance=None if paid is None else round(paid * MICRO),
        )
    return books
