"""Which route credit-burn serves where, against the same planner told the trace's future (``credit-burn+foresight``).

    python -m bench.credit_routes --scenario bench/scenarios/heldout/bursty_flat.yaml --seed 7 [--days 5 | --hours A:B]

``credit_where.py`` compares spend per model and bucket with the optimum's; the optimum keeps no route, and a grant
shared by two routes (a pack on a model both can call) shows there as spent in full by both. Here each route's
tokens per candidate come from the two simulations (``SimResult.served``), largest difference first, each row
split into windows of ``--days``: a route given another's pack shows as tokens moved between routes on one
provider, and the windows say when. ``--hours A:B`` looks closer: the rows count hours A to B (from the trace's
start, B excluded) only, one window per hour, leaving out candidates neither strategy used then. The rows of each
strategy add up to each route's demand less its unserved tokens (the JSON's unserved figures are the whole trace's,
so over a span they add up only where nothing was unserved). A final JSON line holds them all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from balancer.sim import FORESIGHT
from bench import scenario
from bench.credit_sim import run

M = 1e6
Served = Mapping[tuple[str, str], list[float]]


@dataclass(frozen=True, slots=True)
class RouteRow:
    route: str
    candidate: str  # provider/model
    sim_mtok: float
    foresight_mtok: float
    windows: list[tuple[float, float]]  # (credit-burn, foresight) Mtok per window


def rows(sim: Served, known: Served, window: int, hours: tuple[int, int] | None = None) -> list[RouteRow]:
    """One row per route and candidate either served, largest difference in tokens first: ``sim`` and ``known``
    hold tokens per hour, summed in windows of ``window`` hours over ``hours`` (start, end; None: all of them, every
    row kept; a span leaves out rows with no tokens in it)."""
    out = []
    for key in sim.keys() | known.keys():
        a, b = sim.get(key, []), known.get(key, [])
        n = max(len(a), len(b))
        lo, hi = hours or (0, n)
        a, b = (a + [0.0] * (n - len(a)))[lo:hi], (b + [0.0] * (n - len(b)))[lo:hi]
        if hours and not any(a) and not any(b):
            continue
        spans = [
            (round(sum(a[i : i + window]) / M, 3), round(sum(b[i : i + window]) / M, 3))
            for i in range(0, len(a), window)
        ]
        out.append(RouteRow(*key, round(sum(a) / M, 3), round(sum(b) / M, 3), spans))
    out.sort(key=lambda r: (-abs(r.sim_mtok - r.foresight_mtok), r.route, r.candidate))
    return out


def _print(name: str, per: str, paid: tuple[float, float], table: list[RouteRow]) -> None:
    print(f"scenario {name}: credit-burn paid ¥{paid[0]:,.2f}, with the future known ¥{paid[1]:,.2f}")
    print(f"{'route':<10} {'candidate':<28} {'Mtok':>8} {'foresight':>9}   per {per} (credit-burn/foresight)")
    for r in table:
        spans = " ".join(f"{a:.1f}/{b:.1f}" for a, b in r.windows)
        print(f"{r.route:<10} {r.candidate:<28} {r.sim_mtok:>8.2f} {r.foresight_mtok:>9.2f}   {spans}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="bench/scenarios/heldout/bursty_flat.yaml")
    p.add_argument("--seed", type=int, help="override the scenario's noise seed")
    span = p.add_mutually_exclusive_group()
    span.add_argument("--days", type=int, default=5, help="days per window of each row (default 5)")
    span.add_argument("--hours", help="A:B: only hours A to B from the trace's start (B excluded), one window each")
    args = p.parse_args(argv)
    if args.days < 1:
        p.error("--days must be at least 1")
    s = scenario.for_cli(args.scenario, args.seed)
    cfg, trace = scenario.to_config(s), scenario.trace(s)
    hours = _hours(p, args.hours, trace.hours) if args.hours is not None else None
    sim, known = run(s, cfg, trace, "credit-burn"), run(s, cfg, trace, FORESIGHT)
    table = rows(sim.served, known.served, 1 if hours else args.days * 24, hours)
    _print(s.name, "hour" if hours else f"{args.days} days", (sim.paid_cny, known.paid_cny), table)
    doc = {
        "bench": "credit_routes",
        "scenario": s.name,
        "days_per_window": None if hours else args.days,
        "hours": list(hours) if hours else None,
        "paid_cny": round(sim.paid_cny, 2),
        "foresight_paid_cny": round(known.paid_cny, 2),
        "unserved_by_route_mtok": {r: round(v / M, 3) for r, v in sim.unserved_by_route.items()},
        "foresight_unserved_by_route_mtok": {r: round(v / M, 3) for r, v in known.unserved_by_route.items()},
        "rows": [asdict(r) for r in table],
    }
    print(json.dumps(doc, ensure_ascii=False))
    return 0


def _hours(p: argparse.ArgumentParser, text: str, total: int) -> tuple[int, int]:
    """``A:B`` as (A, B), or a usage error where it is not two hours in order inside the trace's ``total``."""
    a, sep, b = text.partition(":")
    if not (sep and a.strip().isdecimal() and b.strip().isdecimal() and int(a) < int(b) <= total):
        p.error(f"--hours must be A:B, whole hours from the trace's start with A < B <= {total}; got {text!r}")
    return int(a), int(b)


if __name__ == "__main__":
    sys.exit(main())
