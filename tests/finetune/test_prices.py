"""Training prices are data with sources, and costs scale with tokens and epochs."""

from __future__ import annotations

from finetune.prices import PRICES, estimate_cost


def test_every_price_names_its_source() -> None:
    """Each price row carries the https page it was read from."""
    assert PRICES and all(p.source.startswith("https://") and p.per_million > 0 for p in PRICES)


def test_cost_is_tokens_times_epochs_times_price() -> None:
    """One million tokens over 3 epochs costs three times the per-million price."""
    for price, cost in estimate_cost(1_000_000, epochs=3):
        assert cost == 3 * price.per_million
