"""Noise futures: a route's coming hours drawn a day at a time from its own past deviations."""

from __future__ import annotations

import math
import random

import pytest

from balancer.credit.futures import DAY_H, MIN_H, deviations, draw


def bursty(hours: int, seed: int) -> list[float]:
    """Hourly tokens around 1000 with AR(0.8) log noise and a burst of 3 hours at 4x every other day."""
    rng, e, out = random.Random(seed), 0.0, []
    for h in range(hours):
        e = 0.8 * e + rng.gauss(0.0, 0.25)
        out.append(1000.0 * math.exp(e) * (4.0 if h % 48 in (30, 31, 32) else 1.0))
    return out


def test_deviations_keep_the_level() -> None:
    """The deviations are the last ``window`` hours' logs over the level, shifted so their exponentials
    average 1 (a future drawn from them keeps the level), in the hours' own order."""
    y = bursty(200, 1)
    d = deviations(y, 1200.0, 100)
    assert len(d) == 100
    assert sum(math.exp(a) for a in d) / len(d) == pytest.approx(1.0)
    shift = math.log(y[-100] / 1200.0) - d[0]
    assert all(a == pytest.approx(math.log(v / 1200.0) - shift) for a, v in zip(d, y[-100:], strict=True))


def test_no_deviations_without_noise_or_history() -> None:
    """Steady traffic, too few hours or no level give no deviations (no futures to draw)."""
    assert deviations([1000.0] * 100, 1000.0, 100) == ()
    assert deviations(bursty(MIN_H - 1, 2), 1000.0, MIN_H - 1) == ()
    assert deviations(bursty(100, 3), 0.0, 100) == ()


def test_a_future_is_whole_past_days_taken_alike_by_every_route() -> None:
    """Each day of a future is DAY_H consecutive past hours (their correlation and bursts kept), at the same
    offset for every route; the draw is the same for the same hour and differs for another."""
    a, b = deviations(bursty(240, 4), 1000.0, 240), deviations(bursty(240, 5), 1000.0, 240)
    futures = draw({"a": a, "b": b, "idle": ()}, 500_000, 60, 3)
    assert len(futures) == 3 and all(f.keys() == {"a", "b"} and len(f["a"]) == 60 for f in futures)
    for f in futures:
        for day in range(0, 60, DAY_H):
            got = [math.log(m) for m in f["a"][day : day + DAY_H]]
            starts = [s for s in range(len(a) - len(got) + 1) if a[s : s + len(got)] == pytest.approx(got)]
            assert len(starts) == 1
            other = [math.log(m) for m in f["b"][day : day + DAY_H]]
            assert list(b[starts[0] : starts[0] + len(other)]) == pytest.approx(other)
    assert draw({"a": a, "b": b}, 500_000, 60, 3) == futures
    assert draw({"a": a, "b": b}, 500_001, 60, 3) != futures
    assert draw({"idle": ()}, 500_000, 60, 3) == []
