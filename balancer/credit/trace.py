"""A demand trace: what a route asked for, hour by hour, and when each provider was down.

The common input of the credit simulation (:mod:`balancer.sim`), the offline optimum
(:mod:`balancer.credit.bound`) and the replay of a gateway's own logs (:mod:`balancer.credit.replay`); the
bench's scenarios (``bench/scenario.py``) generate one. Prices that change during the trace are listed,
so the simulation re-prices from that hour on and the optimum knows them all along.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class PriceChange:
    """From ``hour`` (index into the trace) on, ``provider``'s ``model`` costs these CNY per million tokens."""

    hour: int
    provider: str
    model: str
    input: float
    output: float


@dataclass(frozen=True, slots=True)
class Trace:
    start: float  # epoch seconds of hour 0 (a UTC hour boundary)
    hours: int
    demand: dict[str, np.ndarray]  # route -> tokens asked for in each hour (float, length ``hours``)
    input_share: dict[str, float]  # route -> prompt tokens' share of its tokens
    down: dict[str, np.ndarray] = field(default_factory=dict)  # provider -> bool per hour (absent: never down)
    price_changes: tuple[PriceChange, ...] = ()
    # route -> the tokens its generator expects in each hour (a scenario's shape without its noise, its bursts at
    # their mean rate); empty for a trace read from logs, which has no generator
    expected: dict[str, np.ndarray] = field(default_factory=dict)

    def is_down(self, provider: str, hour: int) -> bool:
        mask = self.down.get(provider)
        return bool(mask is not None and mask[hour])
