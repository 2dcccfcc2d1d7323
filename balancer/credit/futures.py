"""Noise futures: each route's coming hours drawn from its own past, a whole day at a time (a block bootstrap).

A forecast's ``noise`` is the log deviations of the hours its level was read from (deseasonalised, so a day
of them carries the hour-to-hour correlation and the bursts, not the daily profile). A future is a run of
days taken from those hours at random offsets; the routes take the same offsets, so traffic that rose
together in the past rises together in the future. :func:`~balancer.credit.horizon.banded` lays a future
over the forecast's expected rate: a demand path whose weeks are as busy or as quiet as the past's weeks
were, where the drift paths only move a level.

Seeded by the hour the plan is made in: the same plan twice in an hour, fresh futures every hour.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

DAY_H = 24  # hours per drawn block
MIN_H = 48  # hours of deviations under which a route has no noise futures
QUIET = 0.01  # the widest log deviation under which traffic has no noise to draw


def deviations(y: Sequence[float], level: float, window: int) -> tuple[float, ...]:
    """The last ``window`` hours' log deviations from ``level`` (hours at 0 count as one token), shifted so
    that their exponentials average 1: a future drawn from them keeps the level. Empty under MIN_H hours,
    with no level, or where they all lie within QUIET (steady traffic: its futures are its level)."""
    hours = y[-window:] if window > 0 else []
    if level <= 0 or len(hours) < MIN_H:
        return ()
    d = [math.log(max(v, 1.0) / level) for v in hours]
    if max(d) - min(d) < QUIET:
        return ()
    shift = math.log(sum(math.exp(a) for a in d) / len(d))
    return tuple(a - shift for a in d)


def draw(noise: Mapping[str, Sequence[float]], origin: int, hours: int, count: int) -> list[dict[str, list[float]]]:
    """``count`` futures of ``hours`` hours from ``origin`` on: per future, route -> the multiplier of each
    hour's expected rate. Each day of a future starts at one offset back from the end of the routes'
    deviations (a route with fewer hours wraps around its own); routes with no deviations are left out."""
    have = {r: d for r, d in noise.items() if d}
    longest = max((len(d) for d in have.values()), default=0)
    if not have or count <= 0:
        return []
    rng = random.Random(origin)
    out = []
    for _ in range(count):
        starts = [rng.randrange(DAY_H, longest + 1) for _ in range(-(-hours // DAY_H))]
        out.append({r: _laid(d, starts, hours) for r, d in have.items()})
    return out


def _laid(d: Sequence[float], starts: Sequence[int], hours: int) -> list[float]:
    """The multipliers of ``hours`` hours: for each day, the DAY_H deviations from ``start`` hours back."""
    n = len(d)
    out: list[float] = []
    for start in starts:
        out.extend(math.exp(d[(n - start + i) % n]) for i in range(DAY_H))
    return out[:hours]
