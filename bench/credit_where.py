"""Where credit-burn's paid spend departs from the optimum's: per period, model and bucket (a grant or paid).

    python -m bench.credit_where --scenario bench/scenarios/heldout/default_bursty.yaml --seed 23 --split 15

Runs the optimum (``balancer.credit.bound.hourly``) and the credit-burn simulation, and sums each one's tokens
and paid CNY per provider/model and bucket over the days before ``--split`` and from it on. A grant spent in
the first period that the optimum keeps for the second shows as tokens moving between the periods; the CNY
column says what that cost (a model paid for in the second period instead). Rows come largest difference
in CNY first; a final JSON line holds them all, with the optimum's ``debit_order``: False when its
mixed-integer program ran past ``--mip-seconds`` and the rows are the LP's alone (a line says so too).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from balancer.credit.bound import MIP_SECONDS, hourly
from balancer.credit.ledger import Row
from bench import scenario
from bench.credit_sim import run

Key = tuple[int, str, str]  # (period: 0 before the split, 1 from it), provider/model, bucket
M = 1e6


@dataclass(frozen=True, slots=True)
class Diff:
    period: int
    model: str  # provider/model
    bucket: str  # a grant's name, or "paid"
    sim_mtok: float
    opt_mtok: float
    sim_cny: float
    opt_cny: float


def optimum_by_period(
    flows: Mapping[tuple[str, str, str], tuple[np.ndarray, np.ndarray]], split_h: int
) -> dict[Key, list[float]]:
    """The optimum's [tokens, CNY] per period, model and bucket, from :func:`~balancer.credit.bound.hourly`."""
    out: dict[Key, list[float]] = {}
    for (provider, model, bucket), (tokens, cny) in flows.items():
        for period, part in ((0, slice(0, split_h)), (1, slice(split_h, None))):
            t, c = float(tokens[part].sum()), float(cny[part].sum())
            if t > 0 or c > 0:
                acc = out.setdefault((period, f"{provider}/{model}", bucket), [0.0, 0.0])
                acc[0], acc[1] = acc[0] + t, acc[1] + c
    return out


def sim_by_period(rows: list[Row], start: dt.date, split_day: int) -> dict[Key, list[float]]:
    """The simulation's [tokens, CNY] per period, model and bucket, from the ledger's daily rows."""
    out: dict[Key, list[float]] = {}
    for row in rows:
        period = 0 if (dt.date.fromisoformat(row.day) - start).days < split_day else 1
        acc = out.setdefault((period, f"{row.provider}/{row.model}", row.bucket), [0.0, 0.0])
        acc[0] += row.tokens
        acc[1] += row.micro / M if row.bucket == "paid" else 0.0
    return out


def table(sim: Mapping[Key, list[float]], opt: Mapping[Key, list[float]]) -> list[Diff]:
    """One row per key in either, largest CNY difference first (then tokens)."""
    rows = []
    for key in sim.keys() | opt.keys():
        (st, sc), (ot, oc) = sim.get(key, [0.0, 0.0]), opt.get(key, [0.0, 0.0])
        rows.append(Diff(*key, round(st / M, 3), round(ot / M, 3), round(sc, 2), round(oc, 2)))
    rows.sort(key=lambda r: (-abs(r.sim_cny - r.opt_cny), -abs(r.sim_mtok - r.opt_mtok), r.period, r.model, r.bucket))
    return rows


def _print(name: str, split: float, debit_order: bool, totals: list[dict[str, Any]], rows: list[Diff]) -> None:
    """The human-readable table: each period's totals, then the rows."""
    print(f"scenario {name}: days < {split:g} (period 0) and from day {split:g} (period 1)")
    if not debit_order:
        print("optimum: the vendor's debit order not kept (its MIP ran out of time): a looser bound")
    for t in totals:
        print(f"period {t['period']}: credit-burn paid ¥{t['sim_cny']:,.2f}, optimum ¥{t['opt_cny']:,.2f}")
    print(f"{'period':>6} {'model':<28} {'bucket':<14} {'sim Mtok':>9} {'opt Mtok':>9} {'sim ¥':>9} {'opt ¥':>9}")
    for r in rows:
        print(
            f"{r.period:>6} {r.model:<28} {r.bucket:<14} {r.sim_mtok:>9.2f} {r.opt_mtok:>9.2f}"
            f" {r.sim_cny:>9.2f} {r.opt_cny:>9.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="bench/scenarios/heldout/default_bursty.yaml")
    p.add_argument("--seed", type=int, help="override the scenario's noise seed")
    p.add_argument("--split", type=float, help="the day the second period starts (default: half the scenario)")
    p.add_argument(
        "--mip-seconds",
        type=float,
        default=MIP_SECONDS,
        help="the most the optimum's debit-order program may take; past it the LP alone, and a line says so",
    )
    args = p.parse_args(argv)
    s = scenario.for_cli(args.scenario, args.seed)
    cfg, trace = scenario.to_config(s), scenario.trace(s)
    days = trace.hours // 24
    split = days // 2 if args.split is None else args.split
    if not (math.isfinite(split) and split == int(split) and 0 < split < days):
        p.error(f"--split must be a whole day inside the scenario's {days} days")
    res = run(s, cfg, trace, "credit-burn")
    start = dt.datetime.fromtimestamp(trace.start, dt.UTC).date()
    opt = hourly(cfg, trace, args.mip_seconds)
    rows = table(sim_by_period(res.rows, start, int(split)), optimum_by_period(opt.flows, int(split) * 24))
    totals = [
        {
            "period": k,
            "sim_cny": round(sum(r.sim_cny for r in rows if r.period == k), 2),
            "opt_cny": round(sum(r.opt_cny for r in rows if r.period == k), 2),
        }
        for k in (0, 1)
    ]
    _print(s.name, split, opt.debit_order, totals, rows)
    doc = {
        "bench": "credit_where",
        "scenario": s.name,
        "split_day": split,
        "paid_cny": round(res.paid_cny, 2),
        "debit_order": opt.debit_order,
        "totals": totals,
        "rows": [asdict(r) for r in rows],
    }
    print(json.dumps(doc, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
