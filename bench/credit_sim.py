"""Credit-burn simulation: replay a scenario's hourly trace against provider accounts with grants, per strategy.

    python -m bench.credit_sim --scenario bench/scenarios/default.yaml

The simulation and the bound live in the gateway's credit wing (``balancer.sim``, ``balancer.credit.bound``);
this is their CLI over a scenario: it builds the scenario's Config and Trace, solves the offline optimum, runs
the strategies, and prints a table and a final JSON line (its shape: ``bench/README.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence

from balancer.config import Config
from balancer.credit.bound import Optimum, solve
from balancer.credit.ledger import books_from_config
from balancer.credit.pricing import MICRO
from balancer.credit.trace import Trace
from balancer.sim import DIAGNOSTICS, STRATEGIES, SimResult, simulate
from bench import scenario

PAID_TARGET, BURN_TARGET, UNSERVED_SLACK = 1.02, 0.99, 0.001


def _ratio(a: float, b: float) -> float | None:
    """a / b; with b = 0: 1.0 when a is 0 too, else None (undefined)."""
    if abs(b) > 1e-9:
        return a / b
    return 1.0 if abs(a) <= 1e-9 else None


def _by_route(tokens: Mapping[str, float]) -> dict[str, float]:
    """Route -> unserved Mtok, the routes that left some (where it falls decides its price)."""
    return {r: round(v / 1e6, 3) for r, v in sorted(tokens.items()) if round(v / 1e6, 3) > 0}


def _r(v: float | None, digits: int = 4) -> float | None:
    return None if v is None else round(v, digits)


def _units(burned: Mapping[str, float], units: Mapping[str, str]) -> tuple[float, float]:
    """(token-grant tokens, money-grant µ¥) of a per-grant tally."""
    tok = sum(v for k, v in burned.items() if units.get(k) == "tokens")
    return tok, sum(v for k, v in burned.items() if units.get(k) == "money")


def _strategy_row(r: SimResult, opt: Optimum, units: Mapping[str, str]) -> dict[str, object]:
    tok, money = _units(r.burned, units)
    opt_tok, opt_money = _units(opt.burned, units)
    wasted_tok, _ = _units(r.wasted, units)
    return {
        "paid_cny": round(r.paid_cny, 2),
        "paid_ratio": _r(_ratio(r.paid_cny, opt.paid_cny)),
        "cost_ratio": _r(_ratio(r.paid_cny + r.unserved_cny, opt.paid_cny + opt.unserved_cny)),
        "burn_tokens_vs_opt": _r(tok / opt_tok if opt_tok else 1.0),
        "burn_money_vs_opt": _r(money / opt_money if opt_money else 1.0),
        "wasted_mtok": round(wasted_tok / 1e6, 3),
        "unserved_mtok": round(r.unserved_tokens / 1e6, 3),
        "unserved_cny": round(r.unserved_cny, 2),
        "unserved_by_route_mtok": _by_route(r.unserved_by_route),
        "seconds": round(r.seconds, 2),
        "replans": r.replans,
        "replan_max_ms": _r(r.replan_max_ms, 2),
        "replan_warm_ms": _r(r.replan_warm_ms, 2),
    }


def _targets(cb: Mapping[str, object] | None, opt_unserved_mtok: float, demand_mtok: float) -> dict[str, bool]:
    def le(key: str, limit: float) -> bool:
        v = cb.get(key) if cb else None
        return isinstance(v, float | int) and v <= limit

    def ge(key: str, limit: float) -> bool:
        v = cb.get(key) if cb else None
        return isinstance(v, float | int) and v >= limit

    return {
        "paid_ratio<=1.02": le("paid_ratio", PAID_TARGET),
        "burn_tokens>=0.99": ge("burn_tokens_vs_opt", BURN_TARGET),
        "burn_money>=0.99": ge("burn_money_vs_opt", BURN_TARGET),
        "unserved<=opt+0.1%": le("unserved_mtok", opt_unserved_mtok + UNSERVED_SLACK * demand_mtok),
    }


def report(
    name: str, seed: int, cfg: Config, trace: Trace, results: Sequence[SimResult], opt: Optimum, verbose: bool = False
) -> dict[str, object]:
    """Print the table (and with ``verbose`` the burn per grant); return the JSON line's document."""
    units = {g.key: g.unit for b in books_from_config(cfg).values() for g in b.grants}
    demand_mtok = float(sum(d.sum() for d in trace.demand.values())) / 1e6
    opt_tok, opt_money = _units(opt.burned, units)
    print(f"scenario {name}: {trace.hours // 24} days, {len(cfg.providers)} providers, {len(trace.demand)} routes")
    print(
        f"optimum ({'debit order kept' if opt.debit_order else 'LP alone: debit order not kept'}): "
        f"paid ¥{opt.paid_cny:,.2f}, grant tokens burned {opt_tok / 1e6:,.2f}M, "
        f"money grants ¥{opt_money / MICRO:,.2f}, unserved {opt.unserved_tokens / 1e6:.2f}M (¥{opt.unserved_cny:,.2f})"
    )
    head = ["paid ¥", "× opt", "cost ×", "burn tok", "burn ¥", "wasted M", "unserved M"]
    print(f"{'strategy':14}", " ".join(f"{h:>{w}}" for h, w in zip(head, (12, 8, 8, 8, 8, 9, 11), strict=True)))
    rows = {r.strategy: _strategy_row(r, opt, units) for r in results}
    for n, d in rows.items():
        cells = [d[k] for k in ("paid_ratio", "cost_ratio", "burn_tokens_vs_opt", "burn_money_vs_opt")]
        ratios = " ".join(f"{'-' if v is None else format(v, '.4f'):>8}" for v in cells)
        print(f"{n:14} {d['paid_cny']:>12,.2f} {ratios} {d['wasted_mtok']:>9.2f} {d['unserved_mtok']:>11.2f}")
    if verbose:
        _print_burn(results, opt)
    opt_unserved = round(opt.unserved_tokens / 1e6, 3)
    targets = _targets(rows.get("credit-burn"), opt_unserved, demand_mtok)
    return {
        "bench": "credit_sim",
        "scenario": name,
        "seed": seed,
        "demand_mtok": round(demand_mtok, 3),
        "optimum": {
            "paid_cny": round(opt.paid_cny, 2),
            "unserved_mtok": opt_unserved,
            "unserved_cny": round(opt.unserved_cny, 2),
            "unserved_by_route_mtok": _by_route(opt.unserved_by_route),
            "burned_tokens_m": round(opt_tok / 1e6, 3),
            "burned_money_cny": round(opt_money / MICRO, 2),
            "seconds": round(opt.seconds, 2),
            "status": opt.status,
            "debit_order": opt.debit_order,
        },
        "strategies": rows,
        "target_met": "credit-burn" in rows and all(targets.values()) and opt.status == "optimal",
        "targets": targets,
    }


def _print_burn(results: Sequence[SimResult], opt: Optimum) -> None:
    names = sorted(opt.burned)
    print("burned per grant (M units; money grants in ¥):", *names, sep="\n  ")
    burned: list[tuple[str, Mapping[str, float]]] = [(r.strategy, r.burned) for r in results]
    for label, src in [*burned, ("optimum", opt.burned)]:
        print(f"{label:14}", " ".join(f"{src.get(n, 0) / 1e6:8.2f}" for n in names))


def run(s: scenario.Scenario, cfg: Config, trace: Trace, strategy: str) -> SimResult:
    """One strategy over the scenario's trace, at the scenario's pace (requests per hour, re-plan interval) and
    with its seed for the strategies' draws."""
    pace = simulate(
        cfg, trace, strategy, requests_per_hour=s.requests_per_hour, replan_minutes=s.replan_minutes, seed=s.seed
    )
    return asyncio.run(pace)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="bench/scenarios/default.yaml")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--verbose", action="store_true", help="also print what each strategy burned per grant")
    p.add_argument("--seed", type=int, help="override the scenario's noise seed")
    args = p.parse_args(argv)
    unknown = [n for n in args.strategies.split(",") if n not in (*STRATEGIES, *DIAGNOSTICS)]
    if unknown:
        print(f"error: --strategies: unknown {', '.join(unknown)} (known: {', '.join(STRATEGIES)})", file=sys.stderr)
        return 2
    s = scenario.for_cli(args.scenario, args.seed)
    cfg, trace = scenario.to_config(s), scenario.trace(s)
    opt = solve(cfg, trace)
    results = [run(s, cfg, trace, n) for n in args.strategies.split(",")]
    print(json.dumps(report(s.name, s.seed, cfg, trace, results, opt, args.verbose), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
