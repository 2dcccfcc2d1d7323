"""A route's weekly season: how each weekday's traffic stands to its week's, read from the route's own full days
and, where the config's other routes keep the same week, from theirs as well.

- :func:`ratios`: each full day's total over the mean of the 7 days around it (centred where the history allows),
  per weekday; the newest :data:`SEASON_SKIP` days left out (a step there is the level's test's to find, not a
  busy weekday's); None under 8 full days, where a weekday cannot be told from noise.
- :func:`own`: each weekday's mean ratio shrunk toward 1 by :data:`PRIOR` pseudo-days, scaled to mean 1.
- :func:`pooled`: the same route's week read with the other routes' (empirical Bayes): each weekday's mean ratio
  is drawn toward the others' precision-weighted mean by how noisy it is against how far the route's week stands
  from theirs beyond what the noise explains (``tau2``). A route whose week is the others' takes most of their
  evidence; one whose week differs (a flat route beside a weekday-heavy one) keeps its own. ``Week.var``, the
  variance of one day's ratio, comes from the route's hourly noise (``forecast.week_of``).

Measured with ``bench/forecast_error.py`` over 20 seeds (weekly rms log error on day 14, own → pooled): the flat
bursty months, whose three routes share a week, 0.116 → 0.088 (day 21: 0.101 → 0.071); ``bursty`` 0.107 → 0.085;
``surplus_drop`` (a weekday-heavy route beside a flat one) 0.083 → 0.064; the calm months 0.020 → 0.015; worse
where one route's week is unlike the others' and the noise hides it: ``growth_promo`` 0.055 → 0.061, ``series``
0.026 → 0.031 (``bench/README.md``, stop 48).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from balancer.credit.days import full_days, mean_one

SEASON_SKIP = 2  # the newest full days, which the weekly season does not learn from
PRIOR = 0.25  # weight of the flat week each weekday's ratio is shrunk toward (a route alone)
FLAT_WEEK = (1.0,) * 7


@dataclass(frozen=True, slots=True)
class Week:
    ratios: tuple[tuple[float, ...], ...]  # per weekday, Monday = 0: the full days' ratios to their weeks
    var: float  # the variance of one day's ratio (its noise)


def ratios(x: Sequence[float], first: int) -> tuple[tuple[float, ...], ...] | None:
    """Per weekday (Monday = 0), the ratio of each full day's total in ``x`` (hourly tokens from absolute hour
    ``first``) to the mean of the 7 days around it, leaving out the last SEASON_SKIP; None under 8 full days."""
    days = [(d, sum(hours)) for d, hours in full_days(x, first)]
    if len(days) < 8:
        return None
    days = days[: len(days) - SEASON_SKIP]
    out: list[list[float]] = [[] for _ in range(7)]
    for i, (d, total) in enumerate(days):
        a = max(0, min(i - 3, len(days) - 7))
        mean = sum(t for _, t in days[a : a + 7]) / len(days[a : a + 7])
        if mean > 0:
            out[(d + 3) % 7].append(total / mean)
    return tuple(tuple(r) for r in out)


def read_hours(first: int, n: int) -> int:
    """How many of ``n`` hours from absolute hour ``first`` fall before the days :func:`ratios` leaves out."""
    return max(0, ((first + n) // 24 - SEASON_SKIP) * 24 - first)


def own(r: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """Each weekday's mean ratio with a pseudo-day of weight PRIOR at 1 (the few shrink toward flat), mean 1."""
    return mean_one([_shrunk(v) for v in r])


def pooled(week: Week, others: Sequence[Week]) -> tuple[float, ...]:
    """The route's week drawn toward the others' (module docstring); :func:`own` where no other route has a day on
    any weekday the route has one on."""
    pool = [_pool([o for o in others if o.ratios[w]], w) for w in range(7)]
    cells = [(statistics.fmean(r), week.var / len(r), p) for r, p in zip(week.ratios, pool, strict=True) if r and p]
    if not cells:
        return own(week.ratios)
    tau2 = max(0.0, statistics.fmean((m - pm) ** 2 - v - pv for m, v, (pm, pv) in cells))
    out = []
    for r, p in zip(week.ratios, pool, strict=True):
        if not r:
            out.append(p[0] if p else 1.0)
        elif not p:
            out.append(_shrunk(r))
        else:
            m, v = statistics.fmean(r), week.var / len(r)
            total = v + p[1] + tau2
            out.append(m - v / total * (m - p[0]) if total > 0 else m)
    return mean_one(out)


def _shrunk(r: Sequence[float]) -> float:
    """The mean of ``r`` with a pseudo-day of weight PRIOR at 1."""
    return (sum(r) + PRIOR) / (len(r) + PRIOR)


def _pool(weeks: Sequence[Week], w: int) -> tuple[float, float] | None:
    """Weekday ``w``'s mean ratio over ``weeks`` (each has a day on it), weighted by precision, and its variance;
    the plain mean of the noiseless ones where any is noiseless; None for no week."""
    cells = [(statistics.fmean(o.ratios[w]), o.var / len(o.ratios[w])) for o in weeks]
    if not cells:
        return None
    exact = [m for m, v in cells if v <= 0]
    if exact:
        return statistics.fmean(exact), 0.0
    weight = [1 / v for _, v in cells]
    return sum(m * a for (m, _), a in zip(cells, weight, strict=True)) / sum(weight), 1 / sum(weight)
