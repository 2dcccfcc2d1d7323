"""Whole days of an hourly series from an absolute hour, and scaling to mean 1."""

from __future__ import annotations

from balancer.credit.days import full_days, mean_one


def test_full_days_skip_the_partial_days_at_both_ends() -> None:
    """A series from 18:00 on epoch day 100 to 05:00 on day 103 holds days 101 and 102 whole, each its own 24
    hours in order."""
    first = 100 * 24 + 18
    x = [float(first + i) for i in range(6 + 48 + 6)]
    days = full_days(x, first)
    assert [d for d, _ in days] == [101, 102]
    assert [list(h) for _, h in days] == [
        [float(101 * 24 + h) for h in range(24)],
        [float(102 * 24 + h) for h in range(24)],
    ]


def test_full_days_of_a_series_that_starts_at_midnight() -> None:
    """A series that starts at a day's first hour counts that day; one shorter than a day has none."""
    assert [d for d, _ in full_days([1.0] * 48, 7 * 24)] == [7, 8]
    assert full_days([1.0] * 23, 7 * 24) == []


def test_mean_one_scales_and_falls_back_to_ones() -> None:
    """A vector is divided by its mean; a vector whose mean is 0 reads all ones, of its own length."""
    assert mean_one([1.0, 3.0]) == (0.5, 1.5)
    assert mean_one([0.0] * 7) == (1.0,) * 7
