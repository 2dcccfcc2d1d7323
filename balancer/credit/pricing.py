"""The money model: what a model costs, and what an account holds (grants, paid balance, caps).

Units: **money is integer micro-yuan (µ¥, 1e-6 CNY) everywhere inside the gateway** — the ledger
counts it with integer increments (Redis ``INCRBY``), so instances add up exactly. Config and reports
use CNY as decimals. Prices are per million tokens, so a price of ``p`` CNY/M makes each token cost
``p`` µ¥: ``cost_µ¥ = Σ tokens × price_per_M`` (rounded once per request). USD prices are converted
with ``money.usd_cny``.

A grant is either tokens (a resource pack for some models) or money (a voucher); it is usable from
``starts`` (start of that UTC day) up to ``expires`` (end of that UTC day). The vendor debits grants
before the paid balance; which grant first is the account's ``debit_order``. In the config::

    money: {usd_cny: 7.2}
    providers:
      zhipu:
        vendor: glm
        prices: {glm-4-air: {input: 0.5, output: 0.5}}    # CNY per M tokens; default: the vendor catalogue
        account:
          paid_balance: 200.0                              # CNY; reconciled by balance polls
          daily_cap: 50.0                                  # paid spend per UTC day (monthly_cap: per month)
          debit_order: earliest_expiry                     # or: listed
          grants:
            - {name: air-pack, tokens: 100000000, models: [glm-4-air], expires: 2026-12-15}
            - {name: voucher, amount: 100.0, starts: 2026-11-01, expires: 2027-01-31}   # money, any model

The config's types for it (``Price``, ``GrantConfig``, ``Account``, ``Money``) live in :mod:`balancer.config`;
here they become tariffs and resolved :class:`Grant` s.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from balancer.config import Account, Money, Price
from balancer.vendors.base import ModelInfo

P = TypeVar("P")  # a price: one number, or an array of them

MICRO = 1_000_000  # µ¥ per CNY
DAY = 86_400.0


def day_start(d: dt.date) -> float:
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()


def day_key(now: float) -> str:
    """The UTC day a booking belongs to, ``YYYYMMDD`` (memoised per day: this runs per request)."""
    return _day_month(int(now // 86400))[0]


def month_key(now: float) -> str:
    return _day_month(int(now // 86400))[1]


@functools.lru_cache(maxsize=64)
def _day_month(day: int) -> tuple[str, str]:
    d = dt.datetime.fromtimestamp(day * 86400, dt.UTC)
    return d.strftime("%Y%m%d"), d.strftime("%Y%m")


@dataclass(frozen=True, slots=True)
class Tariff:
    """A model's prices in µ¥ per token (= CNY per million tokens)."""

    input: float
    output: float
    cached_input: float

    def cost(self, prompt: int, completion: int, cached: int = 0) -> int:
        """µ¥ for one request; ``cached`` is the part of ``prompt`` served from the vendor's cache."""
        cached = min(max(cached, 0), prompt)
        return round((prompt - cached) * self.input + cached * self.cached_input + completion * self.output)

    def blended(self, input_share: float) -> float:
        """µ¥ per token for a mix with ``input_share`` of input tokens (no cache hits)."""
        return input_share * self.input + (1.0 - input_share) * self.output


def value_unit(unit: str) -> str:
    """The unit a grant's value to the plan is in (µ¥ per token is ¥ per Mtok; µ¥ per µ¥ of a money grant is ¥
    per ¥)."""
    return "cny_per_mtok" if unit == "tokens" else "cny_per_cny"


FREE = Tariff(0.0, 0.0, 0.0)
INPUT_SHARE = 0.75  # prompt tokens' share of a route's traffic until the ledger has measured it


def account_tariffs(catalogue: Mapping[str, ModelInfo], prices: Mapping[str, Price], money: Money) -> dict[str, Tariff]:
    """Each model's tariff on one account: its configured ``prices``, else the vendor catalogue's."""
    tariffs = {m: tariff(info, money) for m, info in catalogue.items()}
    tariffs.update({m: tariff(price, money) for m, price in prices.items()})
    return tariffs


def tariff(price: Price | ModelInfo | None, money: Money) -> Tariff:
    """The tariff for a configured price, else the catalogue entry; unknown models are free (and logged by callers)."""
    if price is None:
        return FREE
    if isinstance(price, Price):
        inp, out, cached, cur = price.input, price.output, price.cached_input, price.currency
    else:
        inp, out, cached, cur = price.input_price, price.output_price, price.cached_input_price, price.currency
    rate = money.usd_cny if cur == "USD" else 1.0
    return Tariff(inp * rate, out * rate, (inp if cached is None else cached) * rate)


@dataclass(frozen=True, slots=True)
class Grant:
    """A grant resolved from the config: its unit, size in that unit, models and window (epoch seconds)."""

    provider: str
    name: str
    unit: Literal["tokens", "money"]
    size: int  # tokens, or µ¥
    models: frozenset[str]  # empty: every model
    starts: float
    expires: float

    def covers(self, model: str, now: float) -> bool:
        return (not self.models or model in self.models) and self.starts <= now < self.expires

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.name}"

    def per_token(self, price: P) -> P | float:
        """Units of this grant one token spends at ``price`` (µ¥/token; a number, or one per hour): 1 for a token
        grant, the price for a money grant."""
        return 1.0 if self.unit == "tokens" else price


def resolve_grants(provider: str, account: Account, money: Money) -> list[Grant]:
    """The account's grants in the vendor's debit order."""
    grants = []
    for g in account.grants:
        if g.tokens is not None:
            unit: Literal["tokens", "money"] = "tokens"
            size = g.tokens
        else:
            unit = "money"
            size = round((g.amount or 0.0) * (money.usd_cny if g.currency == "USD" else 1.0) * MICRO)
        starts = day_start(g.starts) if g.starts else 0.0
        expires = day_start(g.expires) + DAY if g.expires else float("inf")
        grants.append(Grant(provider, g.name, unit, size, frozenset(g.models), starts, expires))
    if account.debit_order == "earliest_expiry":
        grants.sort(key=lambda g: g.expires)  # stable: ties keep config order
    return grants
