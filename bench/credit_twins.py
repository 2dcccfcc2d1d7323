"""How much of a miss against the optimum the future explains: a scenario against twins that part from it.

    python -m bench.credit_twins --scenario bench/scenarios/heldout/default_bursty.yaml --seed 23 --day 15

The optimum (``balancer.credit.bound.solve``) knows the whole month. A planner knows the past only, so it
cannot tell the scenario from a twin whose traffic is the same until day D and then different (here: every
route's demand from day D on times a factor). ``balancer.credit.bound.robust`` finds the least t such that
one schedule, shared by the scenario and a twin until day D, pays at most t × each one's optimum and serves
as much: no planner that cannot see past day D does better on the worse of the two. t near 1 says the miss is
the planner's; well above 1, the future's. Prints one row per factor and a final JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys

from balancer.credit.bound import robust, solve
from balancer.credit.trace import Trace
from bench import scenario


def twin(trace: Trace, hour: int, factor: float) -> Trace:
    """``trace`` with every route's demand from ``hour`` on times ``factor``."""
    demand = {r: d.copy() for r, d in trace.demand.items()}
    for d in demand.values():
        d[hour:] *= factor
    return dataclasses.replace(trace, demand=demand)


def _factors(text: str) -> list[float]:
    """Comma-separated factors, each >= 0."""
    try:
        out = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not out or any(not f >= 0 for f in out):
        raise argparse.ArgumentTypeError(f"factors must be numbers >= 0, got {text!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="bench/scenarios/heldout/default_bursty.yaml")
    p.add_argument("--seed", type=int, help="override the scenario's noise seed")
    p.add_argument("--day", type=float, required=True, help="the day the twins part (hours before it are shared)")
    p.add_argument(
        "--factors", type=_factors, default="0.5,0.25,1.5", help="each twin's demand from --day on, × the scenario's"
    )
    args = p.parse_args(argv)
    s = scenario.for_cli(args.scenario, args.seed)
    cfg, trace = scenario.to_config(s), scenario.trace(s)
    hour = round(args.day * 24) if math.isfinite(args.day) else 0
    if not 0 < hour < trace.hours:
        p.error(f"--day must fall inside the scenario's {trace.hours // 24} days")
    opt = solve(cfg, trace)
    print(f"scenario {s.name}: optimum paid ¥{opt.paid_cny:,.2f}; twins part on day {args.day:g}")
    print(f"{'twin factor':>12} {'twin optimum ¥':>15} {'best shared ×':>14}")
    rows = []
    for f in args.factors:
        other = twin(trace, hour, f)
        opt_other = solve(cfg, other)
        best = robust(cfg, [trace, other], hour, [opt, opt_other])
        ratio = round(best.ratio, 4) if best.status == "optimal" else None
        print(f"{f:>12g} {opt_other.paid_cny:>15,.2f} {best.status if ratio is None else format(ratio, '.4f'):>14}")
        rows.append({"factor": f, "twin_optimum_cny": round(opt_other.paid_cny, 2), "ratio": ratio})
    doc = {"bench": "credit_twins", "scenario": s.name, "day": args.day, "optimum_cny": round(opt.paid_cny, 2)}
    print(json.dumps({**doc, "twins": rows}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
