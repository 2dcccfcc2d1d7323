"""The demand forecast: daily profile, weekly season, level with step detection, and the spread in bands."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from balancer.credit.forecast import BANDS, DRIFT, FALL_AFTER, MAX_DRIFT, Forecast, fit
from balancer.credit.noise import LONG_H

DAY0 = 20_000 * 24  # an hour index at UTC midnight; (20000 + 3) % 7 == 4: a Friday
WEEKDAYS = (1.2, 1.2, 1.2, 1.2, 1.2, 0.5, 0.5)  # Monday .. Sunday


def factors(days: float, seed: int, noise: float, ar: float) -> dict[int, float]:
    """Lognormal AR(1) noise of sigma ``noise`` (mean 1) for each hour from DAY0 for ``days``."""
    rng, e, out = random.Random(seed), 0.0, {}
    for h in range(DAY0, DAY0 + round(days * 24)):
        e = ar * e + rng.gauss(0.0, noise * math.sqrt(1 - ar * ar))
        out[h] = math.exp(e - noise * noise / 2)
    return out


def traffic(days: float, rate: object, seed: int = 1, noise: float = 0.0, ar: float = 0.0) -> dict[int, int]:
    """Hourly tokens from DAY0 for ``days``: ``rate(hour)`` times lognormal AR(1) noise of sigma ``noise``."""
    return {h: round(rate(h) * m) for h, m in factors(days, seed, noise, ar).items()}  # type: ignore[operator]


def now_after(days: float) -> float:
    return (DAY0 + days * 24) * 3600.0 + 60.0


def as_of(history: dict[int, int], days: float) -> Forecast:
    """The forecast made ``days`` after DAY0 (its later hours stay in the history: fit reads only earlier ones)."""
    return fit(history, now_after(days))


def test_no_history_forecasts_the_rate_seen_this_hour() -> None:
    """With nothing before the current hour the forecast is flat at this hour's rate so far (over at least
    a quarter of an hour)."""
    f = fit({DAY0: 50_000}, DAY0 * 3600.0 + 1800.0)
    assert f.rate(DAY0 + 5) == pytest.approx(100_000) and f.bands() == ((1.0, 1.0),)


def test_daily_profile_is_learned() -> None:
    """A route busy at 14:00 UTC and quiet at 02:00 is forecast so, with the level at its mean."""
    f = fit(traffic(3, lambda h: 100_000 * (1 + 0.5 * math.cos(2 * math.pi * (h % 24 - 14) / 24))), now_after(3))
    assert f.rate(DAY0 + 3 * 24 + 14) == pytest.approx(150_000, rel=0.02)
    assert f.rate(DAY0 + 3 * 24 + 2) == pytest.approx(50_000, rel=0.02)


def test_weekly_season_is_learned_from_two_weeks() -> None:
    """Two weeks of weekdays at 1.2 and weekends at 0.5 (with hourly noise): next Saturday is forecast at
    about half of next Tuesday, and the level is the weekly mean."""
    f = fit(traffic(14, lambda h: 100_000 * WEEKDAYS[(h // 24 + 3) % 7], noise=0.2), now_after(14))
    tuesday, saturday = DAY0 + 18 * 24 + 12, DAY0 + 15 * 24 + 12
    assert (tuesday // 24 + 3) % 7 == 1 and (saturday // 24 + 3) % 7 == 5
    assert f.rate(saturday) / f.rate(tuesday) == pytest.approx(0.5 / 1.2, rel=0.25)
    assert f.rate(tuesday) == pytest.approx(120_000, rel=0.15)


def test_weekly_season_is_flat_under_eight_days() -> None:
    """A week of history is not enough to tell a weekday from noise: no weekly season."""
    f = fit(traffic(7, lambda h: 100_000 * WEEKDAYS[(h // 24 + 3) % 7]), now_after(7))
    assert f.weekly == (1.0,) * 7


def test_step_change_is_picked_up_within_half_a_day() -> None:
    """Traffic doubling (noisy, autocorrelated) is taken for a step 12 hours on: the level is the new rate,
    not the 3-day mean that would still be ~1.2x the old."""
    history = traffic(6.5, lambda h: 100_000 if h < DAY0 + 6 * 24 else 200_000, noise=0.15, ar=0.5)
    f = fit(history, now_after(6.5))
    assert f.step and f.level == pytest.approx(200_000, rel=0.15)


def test_noise_the_history_has_seen_is_seldom_a_step() -> None:
    """Autocorrelated noise of the same size all along (AR 0.8, sigma 0.3), forecast every 12 hours from day 8 to
    day 20 of 20 histories: under 4% of the fits take a swing for a step, and the level is off the rate by
    under 12% on average (in logs)."""
    fits, steps, off = 0, 0, 0.0
    for seed in range(20):
        history = traffic(20, lambda h: 100_000, seed=seed, noise=0.3, ar=0.8)
        for half_day in range(16, 40):
            f = as_of(history, half_day / 2)
            fits, steps, off = fits + 1, steps + f.step, off + abs(math.log(f.level / 100_000))
    assert steps < 0.04 * fits and off / fits < 0.12


BUSY_WEEK = (1.1, 1.15, 1.1, 1.05, 1.0, 0.75, 0.7)  # Monday .. Sunday


def bursty(days: float, seed: int, step: tuple[float, float] = (0.0, 1.0)) -> dict[int, int]:
    """Hourly tokens like a busy API's: 600k/h with a daily cycle (±60%, peak 06:00 UTC), busier weekdays,
    lognormal AR(0.8) noise of sigma 0.25 and bursts of 2-8 hours at 1.5-3x (two a week); from day
    ``step[0]`` on, times ``step[1]``."""
    rng, hours = random.Random(seed), round(days * 24)
    burst, start = [1.0] * hours, rng.expovariate(2 / 168)
    while start < hours:
        length, factor = rng.uniform(2, 8), rng.uniform(1.5, 3.0)
        for k in range(int(start), min(hours, int(start + length) + 1)):
            burst[k] *= 1 + (factor - 1) * max(0.0, min(k + 1, start + length) - max(k, start))
        start += rng.expovariate(2 / 168)
    noise = factors(days, seed, 0.25, 0.8)
    out = {}
    for i, h in enumerate(range(DAY0, DAY0 + hours)):
        cycle = 1 + 0.6 * math.cos(2 * math.pi * (h % 24 - 6) / 24)
        level = 600_000 * BUSY_WEEK[(h // 24 + 3) % 7] * (step[1] if i >= step[0] * 24 else 1.0)
        out[h] = round(level * cycle * burst[i] * noise[h])
    return out


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_a_step_in_bursty_traffic_is_picked_up_within_two_days(factor: float) -> None:
    """In traffic with autocorrelated noise and bursts of hours, a doubling (or halving) is taken for a step
    within two days (in 14 of 20 histories or more; the 3-day mean would still be ~1.7x / 0.6x the old), and the
    level is then the new rate: within 35% of the mean tokens per hour before the step times the factor (what two
    days of such traffic can tell: their own mean lies at 0.69-1.27 of it in these histories)."""
    taken = 0
    for seed in range(20):
        day = 10 + seed % 7 + 0.25 * (seed % 4)  # different weekdays and hours of the day
        history = bursty(day + 2, seed, (day, factor))
        before = [v for h, v in history.items() if h < DAY0 + day * 24]
        f = fit(history, now_after(day + 2))
        if f.step:
            taken += 1
            assert f.level == pytest.approx(sum(before) / len(before) * factor, rel=0.35)
    assert taken >= 14


def test_a_step_in_bursty_traffic_stays_taken_while_it_is_days_old() -> None:
    """The same doublings and halvings, forecast 3, 4, 5 and 6 days after them: the step is still taken in at least
    three fits of four (the step inflates the noise of the hours around it, which hid it in a third of them when
    that noise was read across it), so the level does not fall back to a two-week mean that spans the step."""
    fits = taken = 0
    for factor in (2.0, 0.5):
        for seed in range(20):
            day = 10 + seed % 7 + 0.25 * (seed % 4)
            for after in (3, 4, 5, 6):
                taken += fit(bursty(day + after, seed, (day, factor)), now_after(day + after)).step
                fits += 1
    assert taken >= 0.75 * fits


def test_bursty_traffic_without_a_step_is_seldom_taken_for_one() -> None:
    """The same traffic without a step, forecast every 12 hours from day 8 to day 30 of 10 histories: under 4% of
    the fits take its bursts and swings for a step."""
    fits = steps = 0
    for seed in range(10):
        history = bursty(30, 100 + seed)
        for half_day in range(16, 60):
            steps += as_of(history, half_day / 2).step
            fits += 1
    assert steps < 0.04 * fits


def test_a_flat_bursty_months_level_is_read_from_two_weeks() -> None:
    """Bursty traffic without a step, forecast every 12 hours from day 10 to day 30 of 10 histories: the month's
    mean the forecast implies (level x weekday x hour) is off the month's true mean by under 5% on average (in
    logs). The three-day level it replaces was off by 7.6%, and each such miss moved grants."""
    errors = []
    for seed in range(10):
        history = bursty(30, 200 + seed)
        month = range(DAY0, DAY0 + 30 * 24)
        truth = sum(history[h] for h in month) / len(month)
        for half_day in range(20, 60):
            f = as_of(history, half_day / 2)
            implied = sum(f.level * f.weekly[(h // 24 + 3) % 7] * f.daily[h % 24] for h in month) / len(month)
            errors.append(abs(math.log(implied / truth)))
    assert sum(errors) / len(errors) < 0.05


def test_the_drift_of_the_first_days_is_read_from_the_levels_noise() -> None:
    """Under five days of history the day-to-day drift is not measured from too few daily changes but read from
    the level's own noise (COLD_K standard errors): wide for bursty traffic (every one of five histories at
    1.8 times the least or more from two days to five), the least for steady traffic, and the least under two days, where there is
    no noise to read. A path above the mean drifts by the forecast's drift, one below by the least, whatever the
    forecast's; the fall path's level is cut from FALL_AFTER days ahead on."""
    steady = traffic(21, lambda h: 100_000, noise=0.05)
    assert [as_of(steady, d).drift for d in (1, 1.9, 2, 3, 4.9, 21)] == [DRIFT] * 6
    for seed in range(5):
        history = bursty(10, 300 + seed)
        assert [as_of(history, d).drift for d in (1, 1.9)] == [DRIFT, DRIFT]
        assert all(1.8 * DRIFT <= as_of(history, d).drift <= MAX_DRIFT for d in (2, 3, 4, 4.9))
    f = Forecast(100.0, drift=0.2)
    assert f.drifted(1.0, 4.0) == pytest.approx(math.exp(0.2 * 2))
    assert f.drifted(-1.0, 4.0) == pytest.approx(math.exp(-DRIFT * 2))
    assert f.drifted(0.0, 4.0, fall=0.5) == 0.5 and f.drifted(0.0, FALL_AFTER, fall=0.5) == 1.0
    assert Forecast(100.0).drifted(1.0, 4.0) == 1.0


def test_hours_from_the_current_one_on_are_not_read() -> None:
    """A forecast made on day 11 is the same whether the history holds the hours after it (a doubling from day 11
    on) or stops before it: the fit never looks ahead."""
    history = bursty(14, 5, (11.0, 2.0))
    assert as_of(history, 11.5) == as_of({h: v for h, v in history.items() if h < DAY0 + 11.5 * 24}, 11.5)


@pytest.mark.parametrize("empty", [0.3, 0.5, 0.7])
def test_sparse_traffic_keeps_a_level_near_its_mean(empty: float) -> None:
    """A light route with a share of its hours empty at random (the rest 500-3,000 tokens) is forecast every 18
    hours from day 8 to day 20 of 10 histories at a level within 4x of its mean either way: a median of hours
    half of which are empty is no measure of a step, and must not multiply the level."""
    worst = 1.0
    for seed in range(10):
        rng = random.Random(seed)
        history = {DAY0 + i: 0 if rng.random() < empty else rng.randint(500, 3000) for i in range(20 * 24)}
        for quarter in range(32, 80, 3):
            level = as_of(history, quarter / 4).level / (1750 * (1 - empty))
            worst = max(worst, level, 1 / level)
    assert worst < 4


def test_traffic_that_stops_is_forecast_at_nothing() -> None:
    """Bursty traffic that stops on day 10 (a retired route, a client gone) is forecast at a level near 0 from 12
    hours on and through the next two days, not at a 3-day mean that takes three days to drain."""
    for seed in range(3):
        history = {h: 0 if h >= DAY0 + 10 * 24 else v for h, v in bursty(12, seed).items()}
        for hours in range(12, 48, 6):
            f = as_of(history, 10 + hours / 24)
            assert f.step and f.level < 10  # tokens an hour, from 600k


def test_traffic_that_resumes_after_idle_days_is_forecast_at_its_rate_within_a_day() -> None:
    """Bursty traffic idle from day 6 to day 10 (a holiday), then back: from 24 to 48 hours on, the level is at
    least half the rate before the holiday (the idle days are not sparse traffic whose median says nothing)."""
    for seed in range(3):
        history = {h: 0 if DAY0 + 6 * 24 <= h < DAY0 + 10 * 24 else v for h, v in bursty(12, seed).items()}
        rate = sum(history[DAY0 + i] for i in range(6 * 24)) / (6 * 24)
        for hours in (24, 36, 48):
            f = as_of(history, 10 + hours / 24)
            assert 0.5 * rate < f.level < 1.5 * rate


@pytest.mark.parametrize("kind", ["dense", "gaps", "spikes", "zeros", "tiny", "on-off"])
def test_ragged_histories_never_break_the_fit(kind: str) -> None:
    """Histories of 0-700 hours with missing hours, 10^12-token spikes, random empty hours, 0-3 tokens an hour,
    or days-long idle and busy spells: the fit never raises, and the level and rates are finite, not negative."""
    for seed in range(70):
        rng = random.Random(seed)
        hours, period, history = rng.randint(0, 700), rng.randint(20, 200), {}
        for i in range(hours):
            v = rng.randint(0, 10**6)
            if kind == "gaps" and rng.random() < 0.5:
                continue
            v = 10**12 if kind == "spikes" and rng.random() < 0.01 else v
            v = 0 if kind == "zeros" and rng.random() < 0.6 else v
            v = rng.randint(0, 3) if kind == "tiny" else v
            v = 0 if kind == "on-off" and (i // period) % 2 == 0 else v
            history[DAY0 + i] = v
        f = fit(history, (DAY0 + hours + rng.random() * 3) * 3600.0)
        rates = [f.level] + [f.rate(DAY0 + hours + k) for k in (0, 5, 30)]
        assert all(math.isfinite(r) and r >= 0 for r in rates), (seed, rates)


def test_the_newest_days_do_not_move_the_weekly_season() -> None:
    """The weekly season is not learned from the last two full days: doubling them (a step the level's test is
    to find) leaves it as it was, rather than half explaining the step away as a busy weekday."""
    history = traffic(20, lambda h: 100_000 * WEEKDAYS[(h // 24 + 3) % 7], noise=0.2)
    doubled = {h: v * 2 if h >= DAY0 + 18 * 24 else v for h, v in history.items()}
    assert fit(doubled, now_after(20)).weekly == fit(history, now_after(20)).weekly
    assert fit(doubled, now_after(20)).weekly != (1.0,) * 7


def test_spread_puts_the_peaks_in_the_top_band() -> None:
    """Hours at 3x the rate, 5% of them, make the top band about 3x the middle; the bands' mean is 1."""
    peaks = {DAY0 + h for h in random.Random(3).sample(range(600), 30)}
    f = fit(traffic(25, lambda h: 300_000 if h in peaks else 100_000), now_after(25))
    bands = f.bands()
    assert [s for s, _ in bands] == list(BANDS)
    assert sum(s * m for s, m in bands) == pytest.approx(1.0)
    assert bands[-1][1] / bands[1][1] == pytest.approx(3.0, rel=0.15)


def test_steady_traffic_has_no_spread() -> None:
    """Traffic without noise has every band at 1, and no noise futures to draw from."""
    f = fit(traffic(4, lambda h: 80_000), now_after(4))
    assert all(m == pytest.approx(1.0) for _, m in f.bands())
    assert f.noise == ()


def test_the_noise_is_the_levels_hours_without_their_season() -> None:
    """Bursty traffic's noise is one deviation per hour the level was read from (the last two weeks with no
    step; the hours since a step after one), with the daily cycle and the weekdays taken out: the deviations
    of the busiest hour of day average about the quietest one's, and a burst stands out above both."""
    f = as_of(bursty(20, 5), 20)
    assert len(f.noise) == LONG_H
    by_hour = [[d for i, d in enumerate(f.noise) if (20 * 24 - LONG_H + i) % 24 == h] for h in (6, 18)]
    assert abs(statistics.fmean(by_hour[0]) - statistics.fmean(by_hour[1])) < 0.3
    assert max(f.noise) > 0.5
    stepped = fit(bursty(15, 0, (10, 2.0)), now_after(15))
    assert stepped.step and 48 <= len(stepped.noise) < LONG_H


def burst_at_the_end(seed: int, ar: float) -> tuple[dict[int, int], float]:
    """Ten days at 100k/h with lognormal noise (sigma 0.3, lag-1 correlation ``ar``); the last hour at 300k."""
    history = traffic(10, lambda h: 100_000, seed=seed, noise=0.3, ar=ar)
    history[DAY0 + 10 * 24 - 1] = 300_000
    return history, now_after(10)


def expected(f: Forecast, hour: int) -> float:
    """The forecast's level × weekday × hour of day, without any carry."""
    return f.level * f.weekly[(hour // 24 + 3) % 7] * f.daily[hour % 24]


def test_a_burst_under_way_is_carried_and_fades() -> None:
    """Where the history's deviations persist (AR 0.9), an hour at 3x the level is expected to go on: the
    current hour is forecast well above its expectation, the excess fades hour by hour, and two days on (or in
    any hour before the forecast was made) the forecast is the expectation."""
    for seed in range(3):
        history, now = burst_at_the_end(seed, ar=0.9)
        f = fit(history, now)
        origin = int(now // 3600)
        assert 0.6 < f.rho <= 0.95 and f.origin == origin
        excess = [f.rate(origin + k) / expected(f, origin + k) for k in (0, 3, 12, 48)]
        assert excess[0] > 1.5 and excess[0] > excess[1] > excess[2] > 1.0
        assert excess[3] == pytest.approx(1.0, abs=0.01)
        assert f.rate(origin - 24) == pytest.approx(expected(f, origin - 24))


def test_a_route_idle_every_night_is_forecast_at_its_daytime_rate() -> None:
    """Hours of the day that never have traffic (none at 02:00-05:00) are forecast empty, and the other
    hours at their own rate, not one lowered by the idle ones (nor a crash on an hour whose profile is 0)."""
    history = traffic(10, lambda h: 0 if h % 24 in (2, 3, 4) else 100_000)
    f = fit(history, now_after(10))
    origin = int(now_after(10) // 3600)
    assert f.rate(origin + 3) == 0.0
    assert f.rate(origin + 12) == pytest.approx(100_000, rel=0.01)
    del history[DAY0], history[DAY0 + 1]  # the history starts with idle hours
    assert fit(history, now_after(10)).rate(origin + 12) == pytest.approx(100_000, rel=0.01)


def test_empty_hours_do_not_switch_the_carry_off() -> None:
    """A route idle three hours every night still has its burst carried (the correlation is read over the hours
    with traffic); when the last hour itself was empty there is nothing to carry."""
    for seed in range(3):
        history, now = burst_at_the_end(seed, ar=0.9)
        for h in list(history):
            if h % 24 in (2, 3, 4):
                del history[h]
        f = fit(history, now)
        origin = int(now // 3600)
        assert 0.6 < f.rho <= 0.95
        assert f.rate(origin) / expected(f, origin) > 1.5
        del history[origin - 1]
        assert fit(history, now).carry == 0.0


def test_idle_hours_do_not_fake_persistence() -> None:
    """Independent noise on a route idle six hours every night is not carried: the idle hours (filled for the
    level's windows) are left out of the autocorrelation, not read as hours repeating their neighbour."""
    for seed in range(5):
        history, now = burst_at_the_end(seed, ar=0.0)
        for h in history:
            if h % 24 in (2, 3, 4, 5, 6, 7):
                history[h] = 0
        assert fit(history, now).rho < 0.12


def test_noise_that_does_not_persist_is_not_carried() -> None:
    """Where hours are independent, an hour at 3x says nothing of the next: the carry's weight (rho) is near 0
    and the current hour's forecast stays within 15% of the level's."""
    for seed in range(3):
        history, now = burst_at_the_end(seed, ar=0.0)
        f = fit(history, now)
        origin = int(now // 3600)
        assert f.rho < 0.12
        assert f.rate(origin) < 1.15 * expected(f, origin)
