"""The weekly season read with the config's other routes' weeks: shared weeks learned sooner, a different week kept."""

from __future__ import annotations

import math
import statistics

import pytest

from balancer.credit import season
from balancer.credit.forecast import Forecast, fit, fit_all, week_of
from tests.balancer.credit.test_forecast import DAY0, now_after, traffic

OFFICE = (1.1, 1.15, 1.1, 1.05, 1.0, 0.75, 0.7)  # Monday .. Sunday: an app's busier weekdays
HEAVY = (1.2, 1.2, 1.2, 1.2, 1.2, 0.5, 0.5)


def weekly(week: tuple[float, ...]) -> object:
    return lambda h: 100_000 * week[(h // 24 + 3) % 7]


def off(f: Forecast, week: tuple[float, ...]) -> float:
    """The rms log error of a forecast's weekly season against ``week`` (each scaled to mean 1)."""
    mean = sum(week) / 7
    return math.sqrt(
        statistics.fmean((math.log(a) - math.log(b / mean)) ** 2 for a, b in zip(f.weekly, week, strict=True))
    )


def test_routes_that_keep_one_week_learn_it_sooner_together() -> None:
    """Three routes with the same week under bursty noise (sigma 0.25, AR 0.8), 10 days in: over 8 seeds their
    weekly seasons read together lie at most 0.8x as far from the true week as each read alone."""
    alone, together = [], []
    for seed in range(8):
        routes = {r: traffic(10, weekly(OFFICE), seed=seed * 3 + i, noise=0.25, ar=0.8) for i, r in enumerate("abc")}
        fits = fit_all(routes, now_after(10))
        alone += [off(fit(t, now_after(10)), OFFICE) for t in routes.values()]
        together += [off(f, OFFICE) for f in fits.values()]
    assert statistics.fmean(together) <= 0.8 * statistics.fmean(alone)


def test_a_flat_route_beside_weekday_heavy_ones_keeps_its_own_week() -> None:
    """A flat route read with two routes whose weekends are at 0.4x their weekdays keeps its weekend at its
    weekdays' rate (within 6%), and they keep their weekends."""
    for seed in range(4):
        routes = {
            "flat": traffic(12, lambda h: 100_000, seed=seed, noise=0.1, ar=0.5),
            "x": traffic(12, weekly(HEAVY), seed=seed + 10, noise=0.1, ar=0.5),
            "y": traffic(12, weekly(HEAVY), seed=seed + 20, noise=0.1, ar=0.5),
        }
        fits = fit_all(routes, now_after(12))
        flat = fits["flat"].weekly
        assert statistics.fmean(flat[5:]) / statistics.fmean(flat[:5]) == pytest.approx(1.0, abs=0.06), (seed, flat)
        for r in "xy":
            assert fits[r].weekly[5] / fits[r].weekly[1] == pytest.approx(0.5 / 1.2, rel=0.15)


def test_a_route_alone_or_under_eight_days_reads_its_own_week() -> None:
    """With no other route the fit is the route's own; routes under 8 days have no week to lend (None) and
    a flat one of their own."""
    t = traffic(12, weekly(HEAVY), noise=0.2)
    assert fit_all({"a": t}, now_after(12)) == {"a": fit(t, now_after(12))}
    week = week_of(t, now_after(12))
    assert week is not None and season.pooled(week, []) == season.own(week.ratios)
    young = {h + 5 * 24: v for h, v in traffic(7, weekly(HEAVY), noise=0.2).items()}  # from day 5 on
    assert week_of(young, now_after(12)) is None
    both = fit_all({"a": t, "young": young}, now_after(12))
    assert both["a"] == fit(t, now_after(12)) and both["young"].weekly == season.FLAT_WEEK


def test_a_weekday_the_route_has_not_seen_is_read_from_the_others() -> None:
    """Traffic that starts on a Saturday is 8 full days old on the next Sunday, its season reading 6 days: the
    weekday it has no day of (a Friday, as busy as a Monday) takes the others' ratio, not the flat week's."""
    saturday = DAY0 + 24  # DAY0 is a Friday
    young = {h: v for h, v in traffic(11, weekly(HEAVY)).items() if h >= saturday}
    old = traffic(11, weekly(HEAVY), seed=2)
    now = (saturday + 8 * 24) * 3600.0 + 60.0
    week = week_of(young, now)
    assert week is not None and [len(r) for r in week.ratios].count(0) == 1
    missing = [len(r) for r in week.ratios].index(0)
    alone = season.own(week.ratios)
    assert alone[missing] / alone[0] < 0.9 * HEAVY[missing] / HEAVY[0]  # alone: a weekday at the flat week's 1
    read = fit_all({"young": young, "old": old}, now)["young"].weekly
    assert read[missing] / read[0] == pytest.approx(HEAVY[missing] / HEAVY[0], rel=0.05)
