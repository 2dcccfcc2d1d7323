"""Training prices as data, per target and base model, with the page each figure came from.

Only prices with a public source are listed; ``stats`` prints "price unknown" for the rest. Prices
change: each row carries the page it was read from, check it before budgeting.
"""

from __future__ import annotations

from msgspec import Struct


class Price(Struct, frozen=True, kw_only=True):
    """Price of training on one million tokens (tokens × epochs)."""

    target: str
    model: str
    per_million: float
    currency: str
    source: str
    #: True when the source gives only a floor ("最低为"): the cost shown is a lower bound.
    at_least: bool = False


# Source: https://openai.com/api/pricing/ (fine-tuning section, training per 1M tokens, 2025).
_OPENAI = "https://openai.com/api/pricing/"

PRICES: tuple[Price, ...] = (
    Price(target="openai", model="gpt-4o-mini-2024-07-18", per_million=3.00, currency="USD", source=_OPENAI),
    Price(target="openai", model="gpt-4o-2024-08-06", per_million=25.00, currency="USD", source=_OPENAI),
    Price(target="openai", model="gpt-4.1-2025-04-14", per_million=25.00, currency="USD", source=_OPENAI),
    Price(target="openai", model="gpt-4.1-mini-2025-04-14", per_million=5.00, currency="USD", source=_OPENAI),
    Price(target="openai", model="gpt-4.1-nano-2025-04-14", per_million=1.50, currency="USD", source=_OPENAI),
    Price(target="openai", model="gpt-3.5-turbo-0125", per_million=8.00, currency="USD", source=_OPENAI),
    # Bailian: training = (tokens + mixed-in tokens) × epochs × unit price, "最低为 0.006元/千Token".
    Price(
        target="bailian",
        model="any (floor price)",
        per_million=6.00,
        currency="CNY",
        source="https://help.aliyun.com/zh/model-studio/billing-for-model-studio",
        at_least=True,
    ),
)

#: OpenAI cookbook default: 3 epochs (TARGET_EPOCHS in Chat_finetuning_data_prep.ipynb).
DEFAULT_EPOCHS = 3


def estimate_cost(tokens: int, epochs: int = DEFAULT_EPOCHS) -> list[tuple[Price, float]]:
    """The training cost of ``tokens`` per priced model."""
    return [(p, tokens * epochs * p.per_million / 1e6) for p in PRICES]
