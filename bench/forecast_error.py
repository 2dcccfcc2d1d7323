"""How far the credit planner's forecast lies from what a scenario's generator expects, over many seeds: seconds
where a simulation takes minutes, so a change to the forecast can be screened before a month is simulated.

    python -m bench.forecast_error [--scenarios GLOB ...] [--seeds 1-20] [--days 8,10,14,21]

For each scenario, seed and day ``d``, the routes' forecasts are fitted together
(:func:`balancer.credit.forecast.fit_all`, as the planner fits them) to their demand before day ``d``, and each
generated route's (a series route has no generator: it is fitted, not scored) is compared with the trace's
``expected`` demand (``bench/scenario.py``: the generator's mean, without its noise):

- ``level``: the log of the forecast's mean over the rest of the trace over the expectation's (what the plan
  thinks is left to serve, and so how scarce its grants look);
- ``week``: the rms log error of its weekly season against the expectation's weekday means (each as a share of
  its week's mean);
- ``hours``: the rms log error of its hourly rate against the expectation over the next 7 days (level, week and
  daily profile together; the carry of the last hour's deviation left out).

One row per day: each figure's mean absolute value and its 90th percentile over seeds × routes, then one JSON line
(``{"bench": "forecast_error", "rows": [...]}``). ``credit-burn+shape`` (``credit_sim.py``) is the simulation
told these expectations: what a forecast with no error would be worth.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import math
import statistics
import sys
from collections.abc import Sequence

import numpy as np

from balancer.credit.forecast import Forecast, fit_all
from balancer.credit.trace import Trace
from bench import scenario

H = 3600
DEFAULT_SCENARIOS = ("bench/scenarios/heldout/bursty_flat*.yaml",)
FIGURES = ("level", "week", "hours")
FLOOR = 1.0  # tokens an hour: the least either side of a log ratio counts as
SHARE_FLOOR = 1e-6  # the same for a weekday's share of the week


def errors(f: Forecast, t: Trace, route: str, day: int) -> dict[str, float]:
    """The three figures (module docstring) of a forecast ``f`` of ``route`` made at the start of ``day``. Each log
    ratio counts both sides as at least :data:`FLOOR` tokens an hour (:data:`SHARE_FLOOR` of a week): traffic that
    stops is forecast at 0, an error of 0 where the generator expects nothing too and ~11.5 against 100k an hour."""
    first, now = int(t.start // H), day * 24
    expected, calm = t.expected[route], dataclasses.replace(f, carry=0.0)
    ahead = [calm.rate(first + h) for h in range(now, t.hours)]
    level = _log_ratio(statistics.fmean(ahead), float(expected[now:].mean()))
    told = np.array([f.weekly[(k + 3) % 7] for k in range(7)])  # epoch day k: weekly[(k + 3) % 7]
    truth = _week(expected, first // 24)
    shares = [np.log(np.maximum(w / w.mean(), SHARE_FLOOR)) for w in (told, truth)]
    week = _rms(shares[0] - shares[1])
    span = range(now, min(t.hours, now + 7 * 24))
    hours = _rms(np.array([_log_ratio(calm.rate(first + h), float(expected[h])) for h in span]))
    return {"level": level, "week": week, "hours": hours}


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) if x.size else 0.0


def _log_ratio(a: float, b: float) -> float:
    return math.log(max(a, FLOOR) / max(b, FLOOR))


def _week(expected: np.ndarray, day0: int) -> np.ndarray:
    """The expectation's weekday factors by epoch day % 7: each day's total over the mean of the 7 days around it
    (as the forecast reads its own), averaged per weekday, so a step or trend does not lean on the weekdays it
    happens to fall on; plain weekday means under a week."""
    days = expected[: len(expected) // 24 * 24].reshape(-1, 24).sum(axis=1)
    ratio: list[list[float]] = [[] for _ in range(7)]
    for d, total in enumerate(days):
        a = max(0, min(d - 3, len(days) - 7))
        mean = float(days[a : a + 7].mean())
        ratio[(day0 + d) % 7].append(total / mean if mean > 0 and len(days) >= 7 else float(total))
    return np.array([statistics.fmean(r) if r else 1.0 for r in ratio])


def measure(files: Sequence[str], seeds: Sequence[int], days: Sequence[int]) -> dict[int, list[dict[str, float]]]:
    """Day -> the figures of every (scenario, seed, generated route) whose trace runs past that day."""
    out: dict[int, list[dict[str, float]]] = {d: [] for d in days}
    for file in files:
        for seed in seeds:
            s = scenario.seeded(file, seed)
            t = scenario.trace(s)
            first = int(t.start // H)
            for d in (d for d in days if 0 < d * 24 < t.hours):
                past = {r: {first + h: int(v) for h, v in enumerate(t.demand[r][: d * 24])} for r in s.routes}
                fits = fit_all(past, t.start + d * 24 * H)  # every route's, as the planner fits them
                out[d] += [errors(fits[r], t, r, d) for r, spec in s.routes.items() if spec.series is None]
    return out


def rows(found: dict[int, list[dict[str, float]]]) -> list[dict[str, float | int]]:
    """Per day: how many forecasts, and each figure's mean absolute value and 90th percentile."""
    out: list[dict[str, float | int]] = []
    for d, figs in found.items():
        if not figs:
            continue
        row: dict[str, float | int] = {"day": d, "n": len(figs)}
        for k in FIGURES:
            a = np.abs([f[k] for f in figs])
            row[k], row[f"{k}_p90"] = round(float(a.mean()), 4), round(float(np.quantile(a, 0.9)), 4)
        out.append(row)
    return out


def _numbers(text: str) -> list[int]:
    """``1-20`` or ``7,11,23`` (or both: ``1-3,7``) as whole numbers; ValueError on anything else."""
    out: list[int] = []
    for part in text.split(","):
        a, dash, b = part.strip().partition("-")
        if not a.isdecimal() or (dash and not b.isdecimal()):
            raise ValueError(f"{part.strip()!r} is not a whole number or a range a-b")
        out += range(int(a), int(b) + 1) if dash else [int(a)]
    if not out:
        raise ValueError("nothing listed")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="the planner's forecast against the scenarios' expected demand")
    p.add_argument("--scenarios", nargs="+", default=list(DEFAULT_SCENARIOS), help="files or globs")
    p.add_argument("--seeds", default="1-20", help="noise seeds: 1-20, or 7,11,23")
    p.add_argument("--days", default="8,10,14,21", help="the days the forecast is made on (its history before them)")
    args = p.parse_args(argv)
    try:
        seeds, days = _numbers(args.seeds), _numbers(args.days)
    except ValueError as e:
        p.error(f"--seeds/--days: {e}")
    files = sorted({f for g in args.scenarios for f in (glob.glob(g) or [g])})
    try:
        found = measure(files, seeds, days)
    except scenario.ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = rows(found)
    print(f"{len(files)} scenarios × {len(seeds)} seeds; |error| mean / 90th percentile over seeds × routes")
    print(f"{'day':>4} {'n':>5} {'level (log)':>16} {'week (rms log)':>16} {'hours (rms log)':>16}")
    for r in table:
        cells = " ".join(f"{r[k]:>7.4f} / {r[f'{k}_p90']:.4f}" for k in FIGURES)
        print(f"{r['day']:>4} {r['n']:>5} {cells}")
    print(json.dumps({"bench": "forecast_error", "scenarios": files, "seeds": seeds, "rows": table}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
