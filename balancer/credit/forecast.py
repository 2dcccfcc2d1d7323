"""A route's demand forecast from its hourly traffic: a level, a weekly season, a daily profile, and the spread.

    expected tokens in hour h = level × weekly[day of week of h] × daily[hour of day of h]

- ``daily``: each UTC hour of day's share of its day, trimmed of bursts and smoothed (:mod:`balancer.credit.profile`).
- ``weekly``: each weekday's full days over the 7 days around them, flat under 8 days, read with the config's
  other routes' weeks where they keep the same one (:mod:`balancer.credit.season`).
- ``level``: the deseasonalised mean of the last two weeks (:data:`LONG_H`), unless the traffic has stepped:
  the median of the last ``k`` hours' logs (``k`` from 12 hours to two weeks, every 6) departs from the
  median of the week before them by more than :data:`MIN_STEP` and by more than :data:`STEP_BAR` standard
  errors of the history's own noise (its autocorrelation counted; medians, so a burst of a few hours does
  not pass for a step). Where none departs, the windows older than two days are tested again with the noise
  read apart on either side of each window's day: a step a few days old inflates the whole history's noise it
  is judged by, and hid there from its third day to its sixth in a third of noisy histories (stop 37). Then
  the level is the mean since the step (``k`` the most significant) when it is
  :data:`SINCE_MEAN` hours old or more; a younger step's is the mean of the hours before it times the ratio
  of the medians, held within what the windows' means allow. Sparse traffic (a quarter to three quarters
  empty) has no step test. Two weeks, not three days: a three-day mean of bursty traffic (AR 0.8, sigma
  0.25, bursts of hours) misses the rest of a flat month's mean by 0.60-1.44x, and each miss moves grants
  (``bench/README.md``, stop 33). Measured on generated traffic: a doubling or halving is taken within two
  days in about 4 of 5 histories, within 12 hours in quieter traffic. Steps are looked for from two days of
  history on.
- ``drift``: how far the level may wander, as log sigma per square root of a day: the sigma of the daily
  means' day-to-day log changes, in [:data:`DRIFT`, :data:`MAX_DRIFT`]. Under :data:`COLD_H` hours (too few
  changes) it is read from the level's own noise instead (:func:`_drift`): wide for bursty traffic, the least
  for steady traffic and under two days. The widest drift in the first days held grants back for bursty months
  that start low (a Sunday), but on the first day, with no noise to read, it also held back over-subscribed
  packs that need every hour from the first (``bench/README.md``, stop 34).
  It spreads the planner's demand paths (:data:`PATHS`, ``horizon.demand_paths``) one-sidedly: the paths above the
  level drift by it, the path below by :data:`DRIFT` only. A day-to-day sigma read from bursty traffic is
  mostly its noise: as a fall to come (``0.2x`` in two weeks at 0.3) it had the plan spend grants early in a
  flat month and pay for the late peaks. A fall is a path of its own instead: with probability
  :data:`FALL_P` the level halves from :data:`FALL_AFTER` days ahead on (a customer leaving), so grants sized
  to the current rate are not all kept for a month that may not come. Every re-plan draws it afresh, three
  days ahead: a standing hazard, so it is small. Where spending a pack now or later costs the same (a cheap
  paid model beside it all month) it decides; where a pack kept saves dear peaks later it should not, since
  against noise alone one early schedule is optimal whatever follows (``bench/README.md``, stop 36).
- ``carry``: the last hour's deviation from its expectation (log), fading into the coming hours by ``rho``,
  the lag-1 autocorrelation of the last week's deviations: a burst under way is expected to last a while,
  noise that does not persist is not carried.
- ``spread``: how an hour's demand falls around its expectation — the deseasonalised hours over the mean of
  the two weeks around each (:data:`LONG_H`), summarised as the mean of each band of :data:`BANDS` (the last
  band is the peaks), scaled to mean 1. The planner serves each band in proportion, so a reserve of grant
  tokens kept for the peaks is valued by what those peaks would otherwise cost.
- ``noise``: the deseasonalised hours the level was read from, as log deviations from it
  (:func:`~balancer.credit.futures.deviations`): what the planner's noise futures are drawn from, a day at a
  time, so that a future's weeks are as busy or as quiet as the past's were (bursts and correlation kept).

Pure numpy-free arithmetic on at most :data:`~balancer.credit.ledger.TRAFFIC_KEEP_H` hours.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from balancer.credit import profile, season
from balancer.credit.futures import deviations
from balancer.credit.noise import LONG_H, centred_means, lag1, noise_var

H = 3600.0
BANDS = (0.25, 0.5, 0.2, 0.05)  # shares of the hours, lowest demand first: the spread's quantile bands
STEP_KS = tuple(range(12, LONG_H + 1, 6))  # hours since a step the step test tries
STEP_BASE = 168  # hours before them it compares them with (fewer where the history is shorter)
NEAR_BASE = 72  # the same for a window of NEAR hours or fewer
NEAR = 48  # the level's noise and the check for sparse traffic read the hours before the last NEAR
HELD = 72  # hours (before the last NEAR) that must not be sparse for a step test
SINCE_MEAN = 72  # hours after a step from which the level is their mean
STEP_BAR = 3.25  # standard errors a step must depart by
LONG_BAR = 3.5  # the same for a window longer than NEAR (more windows: a higher bar)
SPLIT_MIN = 72  # hours before a window under which its noise is read from the whole history
MEDIAN_VAR = math.pi / 2  # a median's variance over a mean's (normal noise)
MAX_EMPTY = 0.25  # share of empty hours past which there is no step test
MIN_STEP = 0.15  # log ratio below which a departure is never taken for a step
DRIFT = 0.05  # the least day-to-day drift of the level assumed (log sigma per sqrt(day)); the downward paths'
MAX_DRIFT = 0.3  # the most
COLD_H = 120  # hours of history under which the drift is read from the level's noise, not from daily changes
COLD_K = 2.0  # that drift: this many times the level's standard error
FALL_P, FALL_BY, FALL_AFTER = 0.05, 0.5, 3.0  # the fall path: its probability, the level's factor, from days ahead
NORMAL3 = ((1 / 6, -math.sqrt(3)), (2 / 3, 0.0), (1 / 6, math.sqrt(3)))  # (probability, z): 3-point normal
# (probability, z, fall): the drift's three paths, and the level halving from FALL_AFTER days ahead on
PATHS = (*((p * (1 - FALL_P), z, 1.0) for p, z in NORMAL3), (FALL_P, 0.0, FALL_BY))
STAYING = next(i for i, (_, z, fall) in enumerate(PATHS) if z == 0 and fall == 1)  # the path at the level
HIGH = max(range(len(PATHS)), key=lambda i: PATHS[i][1])  # the path drifting high
CARRY_H = 168  # the window of the deviations' autocorrelation
FLAT = profile.FLAT


@dataclass(frozen=True, slots=True)
class Forecast:
    level: float  # tokens/hour, deseasonalised
    daily: tuple[float, ...] = FLAT  # per UTC hour of day, mean 1
    weekly: tuple[float, ...] = (1.0,) * 7  # per day of week (epoch day + 3) % 7, Monday = 0; mean 1
    spread: tuple[float, ...] = (1.0,)  # multipliers per band of BANDS (mean 1); (1.0,): no history
    step: bool = False  # the level was reset by a step change
    drift: float = 0.0  # log sigma of the level's drift per sqrt(day); 0: none assumed (no history)
    carry: float = 0.0  # log deviation of the hour before ``origin`` from its expectation
    rho: float = 0.0  # how much of it each following hour keeps
    origin: int = 0  # the hour the forecast was made in
    noise: tuple[float, ...] = ()  # the level's hours' log deviations from it (futures.deviations)

    def rate(self, hour: int) -> float:
        """Expected tokens in the absolute hour ``hour`` (epoch // 3600): its :meth:`season`'s, and from the origin
        on the carry of the last hour's deviation."""
        base = self.season(hour)
        if self.rho <= 0 or hour < self.origin:
            return base
        return base * math.exp(self.carry * self.rho ** (hour - self.origin + 1))

    def season(self, hour: int) -> float:
        """Tokens in the absolute hour ``hour`` by level, weekday and hour of day alone."""
        return self.level * self.weekly[(hour // 24 + 3) % 7] * self.daily[hour % 24]

    def drifted(self, z: float, days: float, fall: float = 1.0) -> float:
        """The level's multiplier ``days`` ahead on a path ``z`` sigmas from the mean that falls by ``fall`` from
        FALL_AFTER days on: a path above the mean drifts by the measured drift, one below by the least
        (:data:`DRIFT`). 1 with no drift (no history: a single path)."""
        if not self.drift:
            return 1.0
        d = self.drift if z > 0 else min(self.drift, DRIFT)
        return math.exp(z * d * math.sqrt(max(days, 0.0))) * (fall if days > FALL_AFTER else 1.0)

    def bands(self) -> tuple[tuple[float, float], ...]:
        """(share of hours, multiplier) per band."""
        if len(self.spread) == 1:
            return ((1.0, 1.0),)
        return tuple(zip(BANDS, self.spread, strict=True))


def fit(traffic: Mapping[int, int], now: float, others: Sequence[season.Week] = ()) -> Forecast:
    """The forecast from a route's tokens per hour (hour index -> tokens) before the current hour; ``others``: the
    weeks of the config's other routes (:func:`week_of`), which its weekly season is read with
    (:func:`~balancer.credit.season.pooled`)."""
    return _fit(_Past.read(traffic, now), others)


def fit_all(traffics: Mapping[str, Mapping[int, int]], now: float) -> dict[str, Forecast]:
    """Every route's :func:`fit`, each weekly season read with the other routes' weeks."""
    past = {r: _Past.read(t, now) for r, t in traffics.items()}
    weeks = {r: p.week for r, p in past.items()}
    return {r: _fit(p, [w for o, w in weeks.items() if o != r and w is not None]) for r, p in past.items()}


def week_of(traffic: Mapping[int, int], now: float) -> season.Week | None:
    """The route's week as the others' seasons read it: None under 8 full days before the current hour."""
    return _Past.read(traffic, now).week


@dataclass(frozen=True, slots=True)
class _Past:
    """A route's hours before the current one (``x`` from absolute hour ``first``), its daily profile and its week;
    ``now``'s traffic so far stands in where there is no past hour (``x`` empty)."""

    x: list[float]
    first: int
    hour: int
    rate_now: float
    daily: tuple[float, ...]
    week: season.Week | None

    @classmethod
    def read(cls, traffic: Mapping[int, int], now: float) -> _Past:
        hour = int(now // H)
        first = min((h for h in traffic if h < hour), default=hour)
        x = [float(traffic.get(h, 0)) for h in range(first, hour)]
        rate_now = traffic.get(hour, 0) / max(now / H % 1.0, 0.25)
        if not x:
            return cls(x, first, hour, rate_now, FLAT, None)
        daily = profile.daily(x, first)
        return cls(x, first, hour, rate_now, daily, _week(x, first, daily))


def _fit(p: _Past, others: Sequence[season.Week]) -> Forecast:
    if not p.x:
        return Forecast(p.rate_now)
    x, first, daily = p.x, p.first, p.daily
    weekly = season.FLAT_WEEK if p.week is None else season.pooled(p.week, others)
    seen = _deseasoned(x, first, daily, weekly)
    y = _filled(seen)
    level, step, window = _level(y)
    carry, rho = _carry(seen, level)
    noise = deviations(y, level, window)
    return Forecast(level, daily, weekly, _spread(y), step, _drift(y, window), carry, rho, p.hour, noise)


def _week(x: Sequence[float], first: int, daily: Sequence[float]) -> season.Week | None:
    """The weekday ratios, and a day's noise: the long-run variance of the hours the ratios read, seasoned by the
    route's own week, over 24 (a day's mean of them)."""
    r = season.ratios(x, first)
    if r is None:
        return None
    y = _filled(_deseasoned(x, first, daily, season.own(r)))
    z = [math.log(max(v, 1.0)) for v in y[: season.read_hours(first, len(x))]]
    return season.Week(r, noise_var(z, len(z)) / 24)


def _deseasoned(x: Sequence[float], first: int, daily: Sequence[float], weekly: Sequence[float]) -> list[float | None]:
    """Each hour over its season; None for an hour of the day that never has traffic (its profile is 0: a
    route idle every night), which says nothing of the level."""
    out: list[float | None] = []
    for h, v in enumerate(x, first):
        season = daily[h % 24] * weekly[(h // 24 + 3) % 7]
        out.append(v / season if season > 0 else None)
    return out


def _filled(y: Sequence[float | None]) -> list[float]:
    """Idle hours take the nearest earlier hour's value (the first ones the first value), so windows stay 24
    hours long without the zeros lowering the level."""
    known = [v for v in y if v is not None]
    last = known[0] if known else 0.0
    out = []
    for v in y:
        last = last if v is None else v
        out.append(last)
    return out


def _level(y: Sequence[float]) -> tuple[float, bool, int]:
    """The mean of the last LONG_H hours; or, where the median of the last ``k`` hours departs from the median of
    the hours before them as a step would (:func:`_step`), the level after that step. No step test where the
    HELD hours before the last NEAR are :func:`_mixed` (sparse traffic), and no tested window that is: traffic
    that stops is a step to 0, traffic that resumes after idle days a step to its new rate. Returns the level,
    whether a step set it, and the hours it was read from (since the step, or the last LONG_H)."""
    long = sum(y[-LONG_H:]) / len(y[-LONG_H:])
    n = len(y)
    if long <= 0 or _mixed(y[max(0, n - NEAR - HELD) : max(0, n - NEAR)]):
        return long, False, min(LONG_H, n)
    found = _step(y)
    if found is None:
        return long, False, min(LONG_H, n)
    step, since, base = found
    before, after = sum(y[n - since - base : n - since]) / base, sum(y[n - since :]) / since
    if before <= 0 or since >= SINCE_MEAN:  # traffic resuming after idle days; a step old enough to average
        return after, True, since
    mean = after / before  # the windows' ratio of means: a young step lies between it and 2 x - 1
    lo, hi = sorted((mean, 2 * mean - 1))
    return before * min(max(math.exp(step), lo), hi), True, since


def _step(y: Sequence[float]) -> tuple[float, int, int] | None:
    """The step: (log ratio of the medians, hours since it, hours before it compared). The most significant of
    the windows of STEP_KS hours up to NEAR whose median departs from the median of the NEAR_BASE hours before
    them by more than MIN_STEP and STEP_BAR standard errors; where none does, the same over the longer windows
    against up to STEP_BASE hours before them, at LONG_BAR (a young step first: a longer window that spans it
    would read as more significant, its base being longer). None where no window departs."""
    n = len(y)
    z = [math.log(max(v, 1.0)) for v in y]
    end = n - NEAR
    whole = noise_var(z, end if end >= 48 else n)  # short histories: the step inflates it (cautious)
    if whole <= 0:
        return None
    seen: dict[int, float] = {}
    near, far = [k for k in STEP_KS if k <= NEAR], [k for k in STEP_KS if k > NEAR]
    found = _departure(y, z, lambda start: whole, near, NEAR_BASE, STEP_BAR) or _departure(
        y, z, lambda start: whole, far, STEP_BASE, LONG_BAR
    )
    # A step older than NEAR is in the hours ``whole`` is read from, and inflates it: read the noise apart.
    return found or _departure(y, z, lambda start: _noise_at(z, start, whole, seen), far, STEP_BASE, LONG_BAR, True)


def _noise_at(z: Sequence[float], start: int, whole: float, seen: dict[int, float]) -> float:
    """The noise variance a window from hour ``start`` is judged by: the hours before the day it falls in and
    those from it on, each around its own centred means, pooled (``seen`` keeps it per day), so that a step
    there is not read as noise on both of its sides; ``whole`` where either side is too short to read. With
    ``whole`` alone a step three to six days old hid itself in about a third of noisy histories
    (``bench/README.md``, stop 37)."""
    cut, n = start // 24 * 24, len(z)
    if cut < SPLIT_MIN or n - cut < 48:
        return whole
    if cut not in seen:
        seen[cut] = (noise_var(z[:cut], cut) * cut + noise_var(z[cut:], n - cut) * (n - cut)) / n
    return seen[cut]


def _departure(
    y: Sequence[float],
    z: Sequence[float],
    var: Callable[[int], float],
    ks: Sequence[int],
    base: int,
    bar: float,
    settled: bool = False,
) -> tuple[float, int, int] | None:
    """The most significant window of ``ks`` (see :func:`_step`; ``var``: the noise variance for a window from
    an hour on), or None. ``settled``: only windows whose last day has not moved back from their median by more
    than MIN_STEP (one level since the step, not traffic that stopped and resumed inside the window)."""
    n, best, found = len(y), bar, None
    for k in ks:
        b = min(base, n - k)
        if b < 24:
            break
        if _mixed(y[n - k :]):
            continue
        diff = statistics.median(z[n - k :]) - statistics.median(z[n - k - b : n - k])
        if abs(diff) <= MIN_STEP or (settled and _moved_back(z[n - k :], diff)):
            continue
        t = abs(diff) / math.sqrt(MEDIAN_VAR * var(n - k) * (1 / k + 1 / b))
        if t > best:
            best, found = t, (diff, k, b)
    return found


def _moved_back(z: Sequence[float], diff: float) -> bool:
    """Whether the last day of ``z`` departs from its median by more than MIN_STEP against ``diff``'s sign."""
    back = statistics.median(z[-24:]) - statistics.median(z)
    return back * diff < 0 and abs(back) > MIN_STEP


def _mixed(hours: Sequence[float]) -> bool:
    """Whether the hours are neither mostly busy nor mostly empty (over MAX_EMPTY of each): a median of them
    says nothing of a level."""
    empty = sum(v <= 0 for v in hours) / len(hours) if hours else 0.0
    return MAX_EMPTY < empty < 1 - MAX_EMPTY


def _spread(y: Sequence[float]) -> tuple[float, ...]:
    """Mean of each BANDS band of the hours' ratios to the mean of the two weeks around them, scaled to mean 1."""
    if len(y) < 24:
        return (1.0,)
    ratios = [v / mean for v, mean in zip(y, centred_means(y, len(y)), strict=True) if mean > 0]
    if len(ratios) < 24:
        return (1.0,)
    ratios.sort()
    out, lo = [], 0.0
    for share in BANDS:
        a, b = round(lo * len(ratios)), max(round((lo + share) * len(ratios)), round(lo * len(ratios)) + 1)
        part = ratios[a : min(b, len(ratios))] or ratios[-1:]
        out.append(sum(part) / len(part))
        lo += share
    mean = sum(s * m for s, m in zip(BANDS, out, strict=True))
    return tuple(m / mean for m in out) if mean > 0 else (1.0,)


def _drift(y: Sequence[float], window: int) -> float:
    """The day-to-day drift of the deseasonalised daily mean: the sigma of its log changes, between DRIFT and
    MAX_DRIFT (DRIFT where idle days leave fewer than three). Under COLD_H hours of history (three changes or
    fewer) it is COLD_K times the level's own standard error instead (the hours' long-run variance over the
    level's ``window`` hours): wide for bursty traffic, narrow for steady; DRIFT under two days of hours, where
    there is no noise to read — no hedge on no evidence, since over-subscribed packs need every hour from the
    first (``bench/README.md``, stop 34)."""
    if len(y) < COLD_H:
        var = noise_var([math.log(max(v, 1.0)) for v in y], len(y))
        return min(MAX_DRIFT, max(DRIFT, COLD_K * math.sqrt(var / window))) if var > 0 else DRIFT
    days = [sum(y[i : i + 24]) / 24 for i in range(len(y) % 24, len(y) - 23, 24)]
    changes = [math.log(b / a) for a, b in itertools.pairwise(days) if a > 0 and b > 0]
    if len(changes) < 3:  # idle days: too few changes to read
        return DRIFT
    return min(MAX_DRIFT, max(DRIFT, statistics.pstdev(changes)))


def _carry(y: Sequence[float | None], level: float) -> tuple[float, float]:
    """The last hour's log deviation from the level and the lag-1 autocorrelation of the last CARRY_H hours'
    deviations, over the hours with traffic (pairs of neighbours that both have it; None: an idle hour of the
    day). No carry when the last hour was empty, the deviations do not persist, or under a day of hours has
    traffic."""
    recent = y[-CARRY_H:]
    d = [math.log(v / level) if v is not None and v > 0 else None for v in recent] if level > 0 else []
    last = d[-1] if d else None
    if last is None or sum(a is not None for a in d) < 24:
        return 0.0, 0.0
    rho = lag1(d)
    return (last, rho) if rho > 0 else (0.0, 0.0)
