"""What each grant is worth to the plan at chosen hours, per strategy: credit-burn against the same planner told more.

    python -m bench.credit_values --scenario bench/scenarios/heldout/bursty_flat.yaml --seed 11 --hours 28,62 \
        [--strategies credit-burn,credit-burn+level,credit-burn+foresight]

Each strategy serves the trace up to each hour as ``credit_sim.py`` does (``balancer.sim.plans_at``), then plans
there once more, cold. The table gives each grant's value (what one more unit of it would save, as the plan prices
it: ¥ per Mtok, or ¥ per ¥ of a voucher; ``GrantOutlook.value``) and each capacity-limited provider's (¥ per Mtok
its next token saves now; ``Plan.capacity_value``). A grant credit-burn values under what the planner told the
future does looks nearer surplus than it is, and is spent on whatever saves more than its value now: this is where
a cold start's level shows (``bench/README.md``, stops 46 and 49). A final JSON line holds them all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence

from balancer.credit.plan import Plan
from balancer.sim import PLANNED, plans_at
from bench import scenario

Values = dict[str, dict[str, float]]  # "grant provider/name" or "capacity provider" -> strategy -> value


def values(plans: Mapping[str, Plan]) -> Values:
    """Per grant and capacity-limited provider, each strategy's value (a grant used up is absent from a plan)."""
    out: Values = {}
    for strategy, plan in plans.items():
        for o in plan.grants:
            out.setdefault(f"grant {o.grant.key}", {})[strategy] = round(o.value, 3)
        for provider, v in plan.capacity_value.items():
            out.setdefault(f"capacity {provider}", {})[strategy] = round(v, 3)
    return dict(sorted(out.items()))


def _print(hour: int, table: Values, strategies: Sequence[str]) -> None:
    print(f"hour {hour} (day {hour // 24 + 1}, {hour % 24:02d}:00 UTC)")
    print(f"{'':<32}" + "".join(f"{s:>24}" for s in strategies))
    for name, row in table.items():
        cells = "".join(f"{row[s]:>24.3f}" if s in row else f"{'–':>24}" for s in strategies)
        print(f"{name:<32}{cells}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="bench/scenarios/heldout/bursty_flat.yaml")
    p.add_argument("--seed", type=int, help="override the scenario's noise seed")
    p.add_argument("--hours", default="28", help="comma-separated hours from the trace's start (default 28)")
    p.add_argument("--strategies", default="credit-burn,credit-burn+level,credit-burn+foresight")
    args = p.parse_args(argv)
    strategies = args.strategies.split(",")
    if unknown := [n for n in strategies if n not in PLANNED]:
        p.error(f"--strategies: {', '.join(unknown)} makes no plan (planned: {', '.join(PLANNED)})")
    s = scenario.for_cli(args.scenario, args.seed)
    cfg, trace = scenario.to_config(s), scenario.trace(s)
    hours = _hours(p, args.hours, trace.hours)
    by = {
        n: asyncio.run(
            plans_at(
                cfg, trace, n, hours,
                requests_per_hour=s.requests_per_hour, replan_minutes=s.replan_minutes, seed=s.seed,
            )
        )
        for n in strategies
    }  # fmt: skip
    tables = {h: values({n: by[n][h] for n in strategies}) for h in hours}
    for h in hours:
        _print(h, tables[h], strategies)
    doc = {
        "bench": "credit_values",
        "scenario": s.name,
        "seed": s.seed,
        "values": {str(h): t for h, t in tables.items()},
    }
    print(json.dumps(doc, ensure_ascii=False))
    return 0


def _hours(p: argparse.ArgumentParser, text: str, total: int) -> list[int]:
    """Comma-separated hours inside the trace (0 to ``total`` - 1), or a usage error naming what was given."""
    parts = [a.strip() for a in text.split(",")]
    if not all(a.isdecimal() and int(a) < total for a in parts):
        p.error(f"--hours must be whole hours from the trace's start, each under {total}; got {text!r}")
    return sorted({int(a) for a in parts})


if __name__ == "__main__":
    sys.exit(main())
