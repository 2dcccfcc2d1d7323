"""Tiny hand-made configs and traces for the simulation and bound tests: two providers, one route.

``cheap`` (glm, glm-4-air) costs 1 CNY/M (or ``cheap_price``) and ``dear`` (deepseek, deepseek-chat) 4 CNY/M,
input and output alike, so a token costs 1 µ¥ or 4 µ¥ whatever the prompt share."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from balancer import config as config_mod
from balancer.credit.pricing import day_start
from balancer.credit.trace import PriceChange, Trace

DAY0 = dt.date(2026, 11, 1)
T0 = day_start(DAY0)


def config(
    cheap_tpm: int = 0,
    dear_tpm: int = 0,
    grants: list[dict[str, Any]] | None = None,
    unserved: float | None = None,
    cheap_price: float = 1.0,
    debit_order: str = "earliest_expiry",
    dear_grants: list[dict[str, Any]] | None = None,
) -> config_mod.Config:
    route: dict[str, Any] = {
        "candidates": [{"provider": "cheap", "model": "glm-4-air"}, {"provider": "dear", "model": "deepseek-chat"}]
    }
    if unserved is not None:
        route["unserved_price"] = unserved
    raw = {
        "server": {"insecure_no_auth": True},
        "providers": {
            "cheap": {
                "vendor": "glm",
                "limits": {"tpm": cheap_tpm},
                "prices": {"glm-4-air": {"input": cheap_price, "output": cheap_price}},
                "account": {"grants": grants or [], "debit_order": debit_order},
            },
            "dear": {
                "vendor": "deepseek",
                "limits": {"tpm": dear_tpm},
                "prices": {"deepseek-chat": {"input": 4.0, "output": 4.0}},
                "account": {"grants": dear_grants or []},
            },
        },
        "routes": {"chat": route},
    }
    return config_mod.parse(raw, "test")


def trace(
    per_hour: float, days: int, down: dict[str, list[int]] | None = None, changes: tuple[PriceChange, ...] = ()
) -> Trace:
    """A flat demand of ``per_hour`` tokens on route chat; ``down``: provider -> the hours it is down."""
    hours = days * 24
    masks = {}
    for p, hs in (down or {}).items():
        masks[p] = np.zeros(hours, dtype=bool)
        masks[p][hs] = True
    return Trace(T0, hours, {"chat": np.full(hours, float(per_hour))}, {"chat": 0.75}, masks, changes)


def day(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)
