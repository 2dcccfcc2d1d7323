"""The daily profile: a day's shape read from every day, bursts trimmed away, noise smoothed, sharp habits kept."""

from __future__ import annotations

import math
import statistics

import pytest

from balancer.credit import profile
from tests.balancer.credit.test_forecast import DAY0, traffic


def cycle(h: int) -> float:
    return 100_000 * (1 + 0.5 * math.cos(2 * math.pi * (h % 24 - 14) / 24))


def hours(t: dict[int, int]) -> list[float]:
    return [float(t[h]) for h in sorted(t)]


def off(p: tuple[float, ...]) -> float:
    """The rms log error of a profile against :func:`cycle`'s (scaled to mean 1)."""
    truth = [cycle(h) / 100_000 for h in range(24)]
    return math.sqrt(statistics.fmean((math.log(a / b)) ** 2 for a, b in zip(p, truth, strict=True)))


def test_a_burst_on_one_day_is_not_a_daily_peak() -> None:
    """Ten flat days, one with five hours at 3x: every hour of day stays within 5% of the others, where plain
    hourly means would read those hours 20% high."""
    t = traffic(10, lambda h: 300_000 if DAY0 + 4 * 24 + 10 <= h < DAY0 + 4 * 24 + 15 else 100_000)
    p = profile.daily(hours(t), DAY0)
    assert max(p) / min(p) < 1.05
    plain = profile._hourly_means(hours(t), DAY0)
    assert max(plain) / min(plain) > 1.15  # what the trim and the smoothing leave out


def test_a_sharp_habit_every_day_is_kept() -> None:
    """A batch job at 02:00 UTC every day (5x, one hour) under noise stays about 5x the hours beside it."""
    t = traffic(10, lambda h: 500_000 if h % 24 == 2 else 100_000, noise=0.1)
    p = profile.daily(hours(t), DAY0)
    assert p[2] / statistics.median(p) == pytest.approx(5.0, rel=0.1)


def test_a_noisy_cycle_is_read_closer_than_the_plain_means() -> None:
    """A daily cosine under bursty noise (sigma 0.25, AR 0.8), 10 days, 12 seeds: the profile lies at most 0.9x as
    far from the true cycle as the plain hourly means do (0.84x when written)."""
    smoothed, plain = [], []
    for seed in range(12):
        x = hours(traffic(10, cycle, seed=seed, noise=0.25, ar=0.8))
        smoothed.append(off(profile.daily(x, DAY0)))
        means = profile._hourly_means(x, DAY0)
        plain.append(off(tuple(m / statistics.fmean(means) for m in means)))
    assert statistics.fmean(smoothed) <= 0.9 * statistics.fmean(plain), (smoothed, plain)


def test_an_hour_with_traffic_is_never_forecast_empty() -> None:
    """A 4-hour block at 200x the rest of the day under heavy noise (sigma 0.6, AR 0.9), 4 days: smoothing cuts
    harmonics that ring below 0 beside the block, yet every hour of day with traffic keeps a share above 0 (held at
    half its trimmed mean), so the forecast expects it and the level reads it."""
    for seed in range(10):
        x = hours(traffic(4, lambda h: 200_000 if 8 <= h % 24 < 12 else 1_000, seed=seed, noise=0.6, ar=0.9))
        assert min(profile.daily(x, DAY0)) > 0, seed


def test_idle_nights_stay_idle_and_a_short_history_is_the_plain_means() -> None:
    """Hours of day with no traffic on any day stay at 0; under two full days the profile is the hours' means
    as they are; under a day it is flat."""
    t = traffic(5, lambda h: 0 if h % 24 < 6 else 100_000, noise=0.2)
    p = profile.daily(hours(t), DAY0)
    assert p[:6] == (0.0,) * 6 and min(p[6:]) > 0.5
    x = hours(traffic(1.5, cycle, noise=0.2))
    means = profile._hourly_means(x, DAY0)
    assert profile.daily(x, DAY0) == pytest.approx([m / statistics.fmean(means) for m in means])
    assert profile.daily(x[:20], DAY0) == profile.FLAT
