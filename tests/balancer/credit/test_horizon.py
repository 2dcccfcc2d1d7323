"""The planner's slots: each block of a segment split into demand paths and bands of the spread."""

from __future__ import annotations

import math

import pytest

from balancer.credit.forecast import BANDS, DRIFT, FALL_AFTER, HIGH, PATHS, STAYING, Forecast
from balancer.credit.futures import draw
from balancer.credit.horizon import ALONE, BLOCK, FUTURES, FUTURES_P, H, banded, demand_paths, segments

T0 = 20_000 * 86400.0  # a UTC midnight (a Friday)
DAY = 86400.0


def test_bands_keep_the_mean_and_paths_drift_it() -> None:
    """Over a block's bands (weighted by their share of the hours) the demand is the forecast's mean rate of
    the block's hours, times the path's drift for how far ahead the segment is (the forecast's drift above the
    mean, the least drift below it, halved on the fall path from FALL_AFTER days); the paths' probabilities sum to 1 in every block, and the current hour
    stays one shared slot."""
    raw = (0.5, 0.9, 1.3, 2.2)
    spread = tuple(m / sum(s * m for s, m in zip(BANDS, raw, strict=True)) for m in raw)  # mean 1
    daily = tuple(1.0 + 0.5 * math.cos(2 * math.pi * h / 24) for h in range(24))
    f = Forecast(100.0, daily=daily, spread=spread, drift=0.2)
    slots, bounds = segments(T0 + 0.5 * H, [], T0 + 10 * DAY)
    out, demand = banded(slots, bounds, {"r": f})
    assert out[0].path == -1 and out[0].prob == 1.0
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, s in enumerate(out[1:], 1):
        groups.setdefault((s.seg, s.hod, s.path), []).append(i)
    for (seg, hod, path), idx in groups.items():
        hours = [h for h in range(int(bounds[seg] // H), int(bounds[seg + 1] // H)) if h % 24 // BLOCK == hod // BLOCK]
        mean = sum(f.rate(h) for h in hours) / len(hours)
        ahead = ((bounds[seg] + bounds[seg + 1]) / 2 - bounds[0]) / DAY
        _, z, fall = PATHS[path]
        drift = math.exp(z * (0.2 if z > 0 else DRIFT) * math.sqrt(ahead)) * (fall if ahead > FALL_AFTER else 1)
        shares = [out[i].weight for i in idx]
        got = sum(w * demand["r"][i] for w, i in zip(shares, idx, strict=True)) / sum(shares)
        assert got == pytest.approx(mean * drift, rel=0.02)
        assert [out[i].band for i in idx] == list(range(len(BANDS)))
        assert all(out[i].prob == pytest.approx(PATHS[path][0]) for i in idx)


def test_a_weekly_season_shows_as_spread_inside_a_segment() -> None:
    """With busy weekdays and idle weekends (and no hourly spread), a week-long segment's lowest band holds
    the weekend hours (0) and its top band the weekday ones."""
    f = Forecast(100.0, weekly=(1.4,) * 5 + (0.0, 0.0), spread=(1.0,) * len(BANDS))
    slots, bounds = segments(T0 + 0.5 * H, [], T0 + 14 * DAY)
    out, demand = banded(slots, bounds, {"r": f})
    week = [i for i, s in enumerate(out[1:], 1) if bounds[s.seg + 1] - bounds[s.seg] >= 7 * DAY]
    assert week
    assert min(demand["r"][i] for i in week) == pytest.approx(0.0)
    assert max(demand["r"][i] for i in week) == pytest.approx(140.0)


def test_noise_futures_are_paths_of_their_own() -> None:
    """With deviations to draw from, the drift paths are followed by FUTURES noise paths that take FUTURES_P of
    the staying path's probability (every block's paths still sum to 1); a future's bands are its own hours
    (the expected rate times the future's multipliers) ranked and cut, the spread not applied again."""
    raw = (0.5, 0.9, 1.3, 2.2)
    spread = tuple(m / sum(s * m for s, m in zip(BANDS, raw, strict=True)) for m in raw)
    noise = tuple(0.3 * math.sin(h / 3) for h in range(96))
    f = Forecast(100.0, spread=spread, drift=0.2, noise=noise)
    slots, bounds = segments(T0 + 0.5 * H, [], T0 + 10 * DAY)
    out, demand = banded(slots, bounds, {"r": f})
    origin = int(T0 // H)
    futures = draw({"r": noise}, origin, int(bounds[-1] // H) - origin, FUTURES)
    assert max(s.path for s in out) == len(PATHS) + FUTURES - 1
    groups: dict[tuple[int, int], dict[int, list[int]]] = {}
    for i, s in enumerate(out[1:], 1):
        groups.setdefault((s.seg, s.hod), {}).setdefault(s.path, []).append(i)
    for (seg, hod), paths in groups.items():
        assert sum(out[idx[0]].prob for idx in paths.values()) == pytest.approx(1.0)
        assert (
            out[paths[STAYING][0]].prob == pytest.approx(PATHS[STAYING][0] - FUTURES_P)
            and PATHS[STAYING][0] > FUTURES_P
        )
        hours = [h for h in range(int(bounds[seg] // H), int(bounds[seg + 1] // H)) if h % 24 // BLOCK == hod // BLOCK]
        for k, future in enumerate(futures):
            idx = paths[len(PATHS) + k]
            assert out[idx[0]].prob == pytest.approx(FUTURES_P / FUTURES)
            rates = sorted(f.rate(h) * future["r"][h - origin] for h in hours)
            q = BANDS[0] * len(rates)  # the lowest band: that many of the lowest hours (the last one in part)
            low = (sum(rates[: int(q)]) + (q - int(q)) * rates[int(q)]) / q
            assert demand["r"][idx[0]] == pytest.approx(low)
            got = sum(out[i].weight * demand["r"][i] for i in idx) / sum(out[i].weight for i in idx)
            assert got == pytest.approx(sum(rates) / len(rates))


def test_a_route_without_noise_keeps_its_staying_bands_on_the_futures() -> None:
    """Beside a route with noise to draw from (whose futures depart from its staying path), a route without any
    has, on every noise future, the demand of its staying drift path in the same block and band."""
    noisy = Forecast(
        100.0, spread=(0.5, 0.9, 1.3, 2.2), drift=0.2, noise=tuple(0.3 * math.sin(h / 3) for h in range(96))
    )
    quiet = Forecast(50.0, spread=(0.5, 0.9, 1.3, 2.2), drift=0.2)
    slots, bounds = segments(T0 + 0.5 * H, [], T0 + 10 * DAY)
    fcs = {"noisy": noisy, "quiet": quiet}
    out, demand = banded(slots, bounds, fcs)
    origin = int(bounds[0] // H)
    kinds = demand_paths(fcs, origin, int(bounds[-1] // H) - origin)
    staying = {(s.seg, s.hod, s.band): demand["quiet"][i] for i, s in enumerate(out) if s.path == STAYING}
    on_futures = [(i, s) for i, s in enumerate(out) if s.path >= 0 and kinds[s.path].future is not None]
    assert on_futures
    assert all(demand["quiet"][i] == staying[s.seg, s.hod, s.band] for i, s in on_futures)
    mine = {(s.seg, s.hod, s.band): demand["noisy"][i] for i, s in enumerate(out) if s.path == STAYING}
    assert any(demand["noisy"][i] != pytest.approx(mine[s.seg, s.hod, s.band]) for i, s in on_futures)


def test_each_drifting_route_has_a_high_path_of_its_own() -> None:
    """With two routes drifting, the joint high path is followed by one per route on which that route alone
    drifts high (its staying demand times exp(z · drift · sqrt(days ahead))) while the other stays; together
    they weigh ALONE joint high paths, every path's probability scaled so that they sum to 1. A route alone
    has the joint high path only."""
    a, b = Forecast(100.0, drift=0.2), Forecast(40.0, drift=0.1)
    slots, bounds = segments(T0 + 0.5 * H, [], T0 + 10 * DAY)
    out, demand = banded(slots, bounds, {"a": a, "b": b})
    origin = int(bounds[0] // H)
    paths = demand_paths({"a": a, "b": b}, origin, int(bounds[-1] // H) - origin)
    assert [p.alone for p in paths if p.z > 0] == ["", "a", "b"]
    assert sum(p.prob for p in paths) == pytest.approx(1.0)
    low, high = min(range(len(PATHS)), key=lambda i: PATHS[i][1]), PATHS[HIGH]
    assert paths[low].prob > 0 and paths[-1].prob / paths[low].prob == pytest.approx(
        high[0] * ALONE / 2 / PATHS[low][0]
    )
    assert paths[HIGH].prob / paths[low].prob == pytest.approx(high[0] / PATHS[low][0])
    at = {(s.seg, s.hod, s.band, s.path): i for i, s in enumerate(out)}
    alone = {p.alone: k for k, p in enumerate(paths) if p.alone}
    for (seg, hod, band, path), i in at.items():
        if path != STAYING:
            continue
        ahead = ((bounds[seg] + bounds[seg + 1]) / 2 - bounds[0]) / DAY
        for route, f in (("a", a), ("b", b)):
            other = "b" if route == "a" else "a"
            j = at[seg, hod, band, alone[route]]
            up = math.exp(high[1] * f.drift * math.sqrt(ahead))
            assert demand[route][j] == pytest.approx(demand[route][i] * up)
            assert demand[other][j] == pytest.approx(demand[other][i])
    one = demand_paths({"a": a}, origin, 240)
    assert [(p.prob, p.z, p.alone) for p in one] == [(p, z, "") for p, z, _ in PATHS]
