"""How much of a miss against the optimum the future explains: a scenario against twins that part from it.

    python -m bench.credit_twins --scenario bench/scenarios/heldout/default_bursty.yaml --seed 23 --day 15

The optimum (``balancer.credit.bound.solve``) knows the whole month. A planner knows the past only, so it
cannot tell the scenario from a twin whose traffic is the same until day D and then different (here: every
route's demand from day D on times a factor). ``balancer.credit.bound.robust`` finds the least t such that
one schedule, shared by the scenario and a twin until day D, pays at most t × each one's optimum and serves
as much: no planner that cannot see past day D does better on the worse of the two. t near 1 says the miss is
the planner's; well above 1, the future's. Prints one row per factor and a final JSON line.

    python -m bench.credit_twins --seed 23 --base 15:0.5 --family 10:2,12.5:2,15:2,17.5:2,20:2

A family asks the same of every twin at once: the month (after ``--base DAY:FACTOR``, here the doubling
undone) and twins that part from it on different days (each DAY:FACTOR: its demand from that day on times
the factor), one schedule for all, shared with each twin until it parts. When the day of a change is not
known either, no planner does better on the worst of them than the family's t.

    python -m bench.credit_twins --seed 7 --noise 2:101,5:102,10:103 [--family ...]

Noise twins ask whether the month's randomness, not a change of level, is what a planner cannot see: each
DAY:SEED twin is the month until DAY and the same scenario drawn with SEED from then on (its own noise and
bursts, the same shape). With ``--family`` they join its twins in one schedule.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys

import numpy as np

from balancer.config import Config
from balancer.credit.bound import robust, solve
from balancer.credit.trace import Trace
from bench import scenario


def twin(trace: Trace, hour: int, factor: float) -> Trace:
    """``trace`` with every route's demand from ``hour`` on times ``factor``."""
    return _spliced(trace, hour, {r: d[hour:] * factor for r, d in trace.demand.items()})


def noise_twin(trace: Trace, other: Trace, hour: int) -> Trace:
    """``trace`` until ``hour``, ``other`` (the same scenario with another seed) from it on."""
    return _spliced(trace, hour, {r: other.demand[r][hour:] for r in trace.demand})


def _spliced(trace: Trace, hour: int, tails: dict[str, np.ndarray]) -> Trace:
    """``trace`` with each route's demand from ``hour`` on replaced by its tail."""
    return dataclasses.replace(trace, demand={r: np.concatenate([d[:hour], tails[r]]) for r, d in trace.demand.items()})


def _step(text: str) -> tuple[float, float]:
    """DAY:FACTOR, the factor >= 0."""
    day, sep, factor = text.partition(":")
    try:
        out = float(day), float(factor)
    except ValueError:
        out = (math.nan, math.nan)
    if not sep or not math.isfinite(out[0]) or not out[1] >= 0:
        raise argparse.ArgumentTypeError(f"expected DAY:FACTOR with a factor >= 0, got {text!r}")
    return out


def _steps(text: str) -> list[tuple[float, float]]:
    return [_step(v) for v in text.split(",")]


def _seed(text: str) -> tuple[float, int]:
    """DAY:SEED (a finite day, an integer seed)."""
    day, sep, seed = text.partition(":")
    try:
        out = float(day), int(seed)
    except ValueError:
        out = (math.nan, 0)
    if not sep or not math.isfinite(out[0]):
        raise argparse.ArgumentTypeError(f"expected DAY:SEED pairs (an integer seed), got {text!r}")
    return out


def _seeds(text: str) -> list[tuple[float, int]]:
    return [_seed(v) for v in text.split(",")]


def _factors(text: str) -> list[float]:
    """Comma-separated factors, each >= 0."""
    try:
        out = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not out or any(not f >= 0 for f in out):
        raise argparse.ArgumentTypeError(f"factors must be numbers >= 0, got {text!r}")
    return out


def _hour(p: argparse.ArgumentParser, trace: Trace, day: float, what: str) -> int:
    hour = round(day * 24) if math.isfinite(day) else 0
    if not 0 < hour < trace.hours:
        p.error(f"{what} must fall inside the scenario's {trace.hours // 24} days")
    return hour


def _month(p: argparse.ArgumentParser, args: argparse.Namespace, seed: int | None) -> Trace:
    """The scenario's trace drawn with ``seed`` (None: its own), ``--base``'s step applied."""
    trace = scenario.trace(scenario.for_cli(args.scenario, seed))
    if args.base is not None:
        trace = twin(trace, _hour(p, trace, args.base[0], "--base's day"), args.base[1])
    return trace


def _pairs(p: argparse.ArgumentParser, trace: Trace, cfg: Config, args: argparse.Namespace) -> dict[str, object]:
    """One twin at a time against the month (--day, --factors); the JSON fields."""
    hour = _hour(p, trace, args.day, "--day")
    opt = solve(cfg, trace, debit_order=False)  # robust() is the LP alone: the same program
    print(f"optimum paid ¥{opt.paid_cny:,.2f}; twins part on day {args.day:g}")
    print(f"{'twin factor':>12} {'twin optimum ¥':>15} {'best shared ×':>14}")
    rows = []
    for f in args.factors:
        other = twin(trace, hour, f)
        opt_other = solve(cfg, other, debit_order=False)
        best = robust(cfg, [trace, other], hour, [opt, opt_other])
        ratio = round(best.ratio, 4) if best.status == "optimal" else None
        print(f"{f:>12g} {opt_other.paid_cny:>15,.2f} {best.status if ratio is None else format(ratio, '.4f'):>14}")
        rows.append({"factor": f, "twin_optimum_cny": round(opt_other.paid_cny, 2), "ratio": ratio})
    return {"day": args.day, "optimum_cny": round(opt.paid_cny, 2), "twins": rows}


def _family(p: argparse.ArgumentParser, trace: Trace, cfg: Config, args: argparse.Namespace) -> dict[str, object]:
    """Every twin at once, each parting from the month on its own day (--family, --noise); the JSON fields."""
    family, noise = args.family or [], args.noise or []
    hours = [_hour(p, trace, day, "--family's days") for day, _ in family]
    traces = [trace, *(twin(trace, h, f) for h, (_, f) in zip(hours, family, strict=True))]
    for day, seed in noise:
        hours.append(_hour(p, trace, day, "--noise's days"))
        traces.append(noise_twin(trace, _month(p, args, seed), hours[-1]))
    optima = [solve(cfg, t, debit_order=False) for t in traces]
    best = robust(cfg, traces, hours, optima)
    print(f"{'parts on day':>12} {'factor':>7} {'seed':>6} {'optimum ¥':>10} {'shared ×':>9}")
    rows = []
    members = [(math.nan, 1.0, None), *((d, f, None) for d, f in family), *((d, 1.0, sd) for d, sd in noise)]
    for (day, f, seed), opt, paid in zip(members, optima, best.paid, strict=True):
        ratio = round(paid / opt.paid_cny, 4) if best.status == "optimal" and opt.paid_cny > 0 else None
        at = "-" if math.isnan(day) else format(day, "g")
        print(f"{at:>12} {f:>7g} {'-' if seed is None else seed:>6} {opt.paid_cny:>10,.2f} {ratio!s:>9}")
        rows.append({"day": None if math.isnan(day) else day, "factor": f, "optimum_cny": round(opt.paid_cny, 2)})
        rows[-1] |= {"seed": seed} if seed is not None else {}
        rows[-1]["ratio"] = ratio
    print(f"worst of the family: {best.status if best.status != 'optimal' else format(best.ratio, '.4f')}")
    return {"family": rows, "ratio": round(best.ratio, 4) if best.status == "optimal" else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="bench/scenarios/heldout/default_bursty.yaml")
    p.add_argument("--seed", type=int, help="override the scenario's noise seed")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--day", type=float, help="the day the twins part (hours before it are shared)")
    mode.add_argument("--family", type=_steps, help="DAY:FACTOR,...: twins of the month, all in one schedule")
    p.add_argument("--noise", type=_seeds, help="DAY:SEED,...: twins drawn with SEED from DAY (with --family too)")
    p.add_argument(
        "--factors", type=_factors, default="0.5,0.25,1.5", help="each twin's demand from --day on, × the scenario's"
    )
    p.add_argument("--base", type=_step, help="DAY:FACTOR: the month is the scenario's with this step applied")
    args = p.parse_args(argv)
    if args.day is not None and args.noise:
        p.error("argument --noise: not allowed with argument --day")
    if args.day is None and not args.family and not args.noise:
        p.error("one of the arguments --day --family --noise is required")
    s = scenario.for_cli(args.scenario, args.seed)
    cfg, trace = scenario.to_config(s), _month(p, args, args.seed)
    print(f"scenario {s.name}" + (f", demand from day {args.base[0]:g} × {args.base[1]:g}" if args.base else ""))
    fields = (_pairs if args.day is not None else _family)(p, trace, cfg, args)
    print(json.dumps({"bench": "credit_twins", "scenario": s.name, **fields}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
