"""The statistics of an hourly series' noise the forecast reads: its long-run variance around a centred two-week
mean (the step test's yardstick and a day's noise for the weekly season) and its lag-1 autocorrelation."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

LONG_H = 336  # hours: the centred mean deviations are read around; the forecast's level window
MAX_RHO = 0.95  # the most lag-1 autocorrelation taken


def noise_var(z: Sequence[float], end: int) -> float:
    """The long-run variance of the first ``end`` hours' log deviations from their centred two-week mean: the
    variance times (1 + rho) / (1 - rho), rho their lag-1 autocorrelation. 0 under two days of hours."""
    end = min(end, len(z))
    if end < 48:
        return 0.0
    d = [v - m for v, m in zip(z, centred_means(z, end), strict=False)]
    mean = sum(d) / end
    rho = lag1(d)
    return sum((a - mean) ** 2 for a in d) / end * (1 + rho) / (1 - rho)


def centred_means(v: Sequence[float], end: int) -> list[float]:
    """The mean of the LONG_H hours centred on each of the first ``end`` hours (fewer at the edges; none from
    ``end`` on)."""
    half = LONG_H // 2
    pre = list(itertools.accumulate(v[:end], initial=0.0))
    return [
        (pre[min(end, i + half)] - pre[max(0, i - half)]) / (min(end, i + half) - max(0, i - half)) for i in range(end)
    ]


def lag1(d: Sequence[float | None]) -> float:
    """The lag-1 autocorrelation of ``d`` over its known values (pairs of neighbours that are both known; None:
    unknown), held in [0, MAX_RHO]; 0 where there is no variance or no such pair."""
    seen = [a for a in d if a is not None]
    if len(seen) < 2:
        return 0.0
    mean = sum(seen) / len(seen)
    var = sum((a - mean) ** 2 for a in seen)
    pairs = [(a - mean) * (b - mean) for a, b in itertools.pairwise(d) if a is not None and b is not None]
    if var <= 0 or not pairs:
        return 0.0
    rho = sum(pairs) / len(pairs) * (len(seen) - 1) / var  # with no gap: the plain lag-1 autocorrelation
    return min(MAX_RHO, max(0.0, rho))
