"""Forecasts kept between re-plans: the same past hours in the same hour give the kept fit, anything else refits."""

from __future__ import annotations

import math
import random

from balancer.credit import fits
from balancer.credit.fits import KEPT
from balancer.credit.forecast import Forecast, H, fit, fit_all

DAY0 = 20_000 * 24  # an hour index on a Thursday (day 20000 since the epoch)


def history(days: int, seed: int) -> dict[int, int]:
    """Hourly tokens around 1000 with lognormal noise, from DAY0 for ``days``."""
    rng = random.Random(seed)
    return {h: round(1000 * math.exp(rng.gauss(0.0, 0.3))) for h in range(DAY0, DAY0 + days * 24)}


def fitted(traffic: dict[int, int], now: float) -> Forecast:
    """The kept fit of a config with this one route."""
    return fits.fitted({"r": traffic}, now)["r"]


def test_a_later_replan_in_the_hour_gets_the_kept_fit() -> None:
    """Two re-plans in the same hour over the same past hours share one fit (the current hour's growing count
    is not part of it), equal to a fresh fit."""
    t = history(10, 1)
    now = (DAY0 + 8 * 24) * H + 60.0
    first = fitted(t, now)
    t[DAY0 + 8 * 24] = 400  # the current hour's traffic so far
    again = fitted(t, now + 900.0)
    assert again is first
    assert again == fit(t, now + 900.0)


def test_a_changed_past_hour_or_the_next_hour_refits() -> None:
    """A late count booked into a past hour, or the next hour, gives a new fit: the one ``fit`` gives."""
    t = history(10, 2)
    now = (DAY0 + 8 * 24) * H + 60.0
    first = fitted(t, now)
    t[DAY0 + 8 * 24 - 1] *= 3
    late = fitted(t, now)
    assert late is not first and late == fit(t, now) and late.level != first.level
    later = fitted(t, now + H)
    assert later.origin == first.origin + 1 and later == fit(t, now + H)


def test_no_past_hour_reads_the_current_one_each_time() -> None:
    """With no hour before the current one, each call fits the current hour's traffic so far."""
    now = DAY0 * H + 1800.0
    assert fitted({DAY0: 500}, now).level == fit({DAY0: 500}, now).level
    assert fitted({DAY0: 900}, now).level > fitted({DAY0: 500}, now).level


def test_only_the_last_fits_are_kept() -> None:
    """Past KEPT other histories the first is fitted again (a new object, equal to it)."""
    t = history(3, 3)
    now = (DAY0 + 2 * 24) * H
    first = fitted(t, now)
    for k in range(KEPT):
        fitted({**t, DAY0: k + 1}, now)
    again = fitted(t, now)
    assert again is not first and again == first


def test_a_changed_hour_of_another_route_refits_both() -> None:
    """The routes' weekly seasons are read together: a late count booked into one route's past hour refits the
    other route too (the fit ``fit_all`` gives)."""
    a, b = history(10, 4), history(10, 5)
    now = (DAY0 + 9 * 24) * H + 60.0
    first = fits.fitted({"a": a, "b": b}, now)
    b[DAY0 + 3 * 24] *= 5
    again = fits.fitted({"a": a, "b": b}, now)
    assert again["a"] is not first["a"] and again == fit_all({"a": a, "b": b}, now)
