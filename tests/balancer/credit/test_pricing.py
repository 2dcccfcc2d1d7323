"""The money model: tariffs from the catalogue or config, grants in debit order, account checks in config."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from balancer import config as config_mod
from balancer.config import Account, GrantConfig, Money, Price
from balancer.credit.ledger import books_from_config
from balancer.credit.pricing import MICRO, day_key, resolve_grants, tariff
from balancer.vendors.base import ModelInfo


def test_tariff_from_catalogue_and_usd_conversion() -> None:
    """Catalogue prices per million tokens become µ¥ per token; USD is converted at the configured rate."""
    t = tariff(ModelInfo(8_000, input_price=0.15, output_price=0.6, cached_input_price=0.075, currency="USD"), Money())
    assert (t.input, t.output, t.cached_input) == pytest.approx((1.08, 4.32, 0.54))
    assert t.cost(prompt=1_000, completion=100, cached=500) == round(500 * 1.08 + 500 * 0.54 + 100 * 4.32)


def test_config_price_overrides_catalogue_and_cached_defaults_to_input() -> None:
    """A provider's ``prices`` entry wins over the vendor catalogue; no cached price means input price."""
    t = tariff(Price(input=1.0, output=4.0), Money())
    assert t.cost(1_000, 0, cached=1_000) == 1_000
    assert t.blended(0.75) == pytest.approx(1.75)


def test_grants_in_debit_order() -> None:
    """Earliest expiry first by default (ties keep config order); ``listed`` keeps config order."""
    grants = [
        GrantConfig(name="a", tokens=1, expires=dt.date(2027, 1, 1)),
        GrantConfig(name="b", amount=2.0, currency="USD", expires=dt.date(2026, 12, 1)),
        GrantConfig(name="c", tokens=1),
    ]
    specs = resolve_grants("p", Account(grants=grants), Money(usd_cny=7.0))
    assert [s.name for s in specs] == ["b", "a", "c"]
    assert specs[0].unit == "money" and specs[0].size == 14 * MICRO
    listed = resolve_grants("p", Account(grants=grants, debit_order="listed"), Money())
    assert [s.name for s in listed] == ["a", "b", "c"]


def test_grant_window_is_whole_utc_days() -> None:
    """A grant is usable from the start of ``starts`` to the end of ``expires`` (UTC)."""
    g = GrantConfig(name="g", tokens=1, models=["m"], starts=dt.date(2026, 11, 1), expires=dt.date(2026, 11, 30))
    (spec,) = resolve_grants("p", Account(grants=[g]), Money())
    first = dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp()
    last = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp() - 1
    assert spec.covers("m", first) and spec.covers("m", last)
    assert not spec.covers("m", first - 1) and not spec.covers("m", last + 1) and not spec.covers("x", first)
    assert day_key(last) == "20261130"


def _cfg(account: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "server": {"insecure_no_auth": True},
        "providers": {"ds": {"vendor": "deepseek", "account": account, **extra}},
        "routes": {"chat": {"candidates": [{"provider": "ds", "model": "deepseek-chat"}]}},
    }


@pytest.mark.parametrize(
    ("account", "path", "message"),
    [
        ({"grants": [{"name": "g"}]}, "providers.ds.account.grants[0]", "exactly one of tokens or amount"),
        ({"grants": [{"name": "g", "tokens": 1, "amount": 1}]}, "grants[0]", "exactly one"),
        ({"grants": [{"name": "g", "tokens": 1}, {"name": "g", "tokens": 2}]}, "grants[1].name", "duplicate"),
        (
            {"grants": [{"name": "g", "tokens": 1, "starts": "2026-12-02", "expires": "2026-12-01"}]},
            "expires",
            "before",
        ),
        ({"grants": [{"name": "g", "tokens": 1, "expiry": "2026-12-01"}]}, "providers.ds.account.grants[0]", "expiry"),
        ({"debit_order": "random"}, "providers.ds.account.debit_order", "random"),
    ],
)
def test_account_errors_name_the_path(account: dict[str, Any], path: str, message: str) -> None:
    """Bad grants and debit orders are config errors naming the exact key."""
    with pytest.raises(config_mod.ConfigError) as e:
        config_mod.parse(_cfg(account), "cfg")
    assert path in str(e.value) and message in str(e.value)


def test_books_from_config_and_default_strategy() -> None:
    """Config prices, grants and paid balance reach the ledger's books; routes default to credit-burn."""
    raw = _cfg(
        {"paid_balance": 12.5, "grants": [{"name": "g", "amount": 10, "expires": dt.date(2026, 12, 24)}]},
        prices={"deepseek-chat": {"input": 1, "output": 2}},
    )
    cfg = config_mod.parse(raw, "cfg")
    book = books_from_config(cfg)["ds"]
    assert book.paid_balance == 12_500_000
    assert book.tariffs["deepseek-chat"].output == 2.0
    assert book.tariffs["deepseek-reasoner"].output == 16.0  # catalogue
    assert [g.name for g in book.grants] == ["g"]
    assert cfg.routes["chat"].strategy == "credit-burn"
