"""Whole days of an hourly series that starts at an absolute hour, and a vector scaled to mean 1: what the weekly
season (:mod:`~balancer.credit.season`) and the daily profile (:mod:`~balancer.credit.profile`) both read."""

from __future__ import annotations

from collections.abc import Sequence


def full_days(x: Sequence[float], first: int) -> list[tuple[int, Sequence[float]]]:
    """Each full day of ``x`` (hourly values from absolute hour ``first``) as (epoch day, its 24 hours)."""
    return [(d, x[d * 24 - first : d * 24 - first + 24]) for d in range(-(-first // 24), (first + len(x)) // 24)]


def mean_one(v: Sequence[float]) -> tuple[float, ...]:
    """``v`` over its mean; all ones where the mean is not positive."""
    avg = sum(v) / len(v)
    return tuple(a / avg for a in v) if avg > 0 else (1.0,) * len(v)
