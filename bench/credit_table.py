"""Every credit scenario × noise seed through the simulator, as one markdown table against the targets.

    python -m bench.credit_table [--scenarios GLOB ...] [--seeds 7,11,23] [--jobs 2]
                                 [--strategies cheapest,credit-burn] [--no-fail]

Each run is a subprocess ``python -m bench.credit_sim --scenario F --seed N --strategies S`` whose last stdout
line is a JSON object (``{"bench": "credit_sim", "scenario", "seed", "demand_mtok", "optimum": {...},
"strategies": {name: {...}}, "target_met", "targets": {...}}``). The table shows credit-burn against the
optimum (paid ratio, grant tokens and ¥ burned relative to it, unserved), the other strategy's paid ratio for
comparison, the planner's re-plan times and whether the targets were met; the exit status is 1 when any run
missed its targets (or failed), unless ``--no-fail``.
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from balancer.sim import DIAGNOSTICS, STRATEGIES

DEFAULT_SCENARIOS = ("bench/scenarios/*.yaml", "bench/scenarios/heldout/*.yaml")
MAIN = "credit-burn"


@dataclass(slots=True)
class Run:
    file: str
    seed: int
    doc: dict[str, Any] | None = None  # the run's JSON line
    error: str = ""  # why there is none
    seconds: float = 0.0
    missed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.doc is not None and bool(self.doc.get("target_met"))


def parse_line(stdout: str) -> dict[str, Any]:
    """The last non-empty stdout line as the simulator's JSON report; ValueError saying what is wrong."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("no output")
    try:
        doc = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        raise ValueError(f"last line is not JSON ({e.msg}): {lines[-1][:120]!r}") from None
    if not isinstance(doc, dict) or doc.get("bench") != "credit_sim":
        raise ValueError(f"last line is not a credit_sim report: {lines[-1][:120]!r}")
    for key in ("optimum", "strategies", "target_met"):
        if key not in doc:
            raise ValueError(f"credit_sim report without {key!r}")
    return doc


def run_one(file: str, seed: int, strategies: str, timeout: float = 1800.0) -> Run:
    cmd = [sys.executable, "-m", "bench.credit_sim", "--scenario", file, "--seed", str(seed)]
    cmd += ["--strategies", strategies]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Run(file, seed, error=f"timed out after {timeout:.0f} s", seconds=time.perf_counter() - t0)
    run = Run(file, seed, seconds=time.perf_counter() - t0)
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        run.error = f"exit {p.returncode}: {tail[:200]}"
        return run
    try:
        run.doc = parse_line(p.stdout)
    except ValueError as e:
        run.error = str(e)
    return run


def _f(x: Any, fmt: str = ".4f") -> str:
    return format(x, fmt) if isinstance(x, int | float) and not isinstance(x, bool) else "–"


HEADER = (
    "| scenario | seed | credit-burn paid ÷ opt | burn tokens vs opt | burn ¥ vs opt | unserved M (opt) "
    "| paid + unserved ¥ ÷ opt | {other} paid ÷ opt | replan median / max ms | target |"
)


def row(run: Run, other: str | None) -> str:
    """One markdown row: credit-burn against the optimum, the other strategy's paid ratio, the targets."""
    if run.doc is None:
        return f"| {run.file} | {run.seed} | error: {run.error} | | | | | | | missed |"
    d, opt = run.doc, run.doc.get("optimum", {})
    cb = d.get("strategies", {}).get(MAIN, {})
    oth = d.get("strategies", {}).get(other, {}) if other else {}
    missed = [k for k, v in (d.get("targets") or {}).items() if not v]
    target = "met" if d.get("target_met") else "missed" + (f" ({', '.join(missed)})" if missed else "")
    name = str(d.get("scenario", run.file)).split(" (seed")[0]
    unserved = f"{_f(cb.get('unserved_mtok'), '.2f')} ({_f(opt.get('unserved_mtok'), '.2f')})"
    replan = f"{_f(cb.get('replan_warm_ms'), '.1f')} / {_f(cb.get('replan_max_ms'), '.0f')}"
    return (
        f"| {name} | {d.get('seed', run.seed)} | {_f(cb.get('paid_ratio'))} | {_f(cb.get('burn_tokens_vs_opt'))} "
        f"| {_f(cb.get('burn_money_vs_opt'))} | {unserved} | {_f(cb.get('cost_ratio'))} | {_f(oth.get('paid_ratio'))} "
        f"| {replan} | {target} |"
    )


def other_strategy(strategies: Sequence[str]) -> str | None:
    """The strategy whose paid ratio stands beside credit-burn's: the first that is not credit-burn."""
    return next((s for s in strategies if s != MAIN), None)


def table(runs: Sequence[Run], strategies: Sequence[str]) -> str:
    other = other_strategy(strategies)
    lines = [HEADER.format(other=other or "other"), "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [row(r, other) for r in runs]
    return "\n".join(lines)


def summary(runs: Sequence[Run]) -> str:
    bad = [r for r in runs if not r.ok]
    names = ", ".join(f"{r.file} seed {r.seed}" + (" (error)" if r.doc is None else "") for r in bad)
    head = f"{len(runs)} runs: targets met in {len(runs) - len(bad)}, missed in {len(bad)}"
    return head + (f": {names}" if bad else "")


def scenario_files(patterns: Iterable[str]) -> list[str]:
    out: list[str] = []
    for pat in patterns:
        hits = sorted(glob.glob(pat))
        if not hits:
            raise SystemExit(f"credit_table: no scenario matches {pat!r}")
        out += [h for h in hits if h not in out]
    return out


def _seeds(text: str) -> list[int]:
    parts = [x.strip() for x in text.split(",") if x.strip()]
    if not parts or not all(x.isdigit() and len(x) <= 18 for x in parts):
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 0 separated by commas, got {text!r}")
    return [int(x) for x in parts]


def _jobs(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 64, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenarios", nargs="+", default=list(DEFAULT_SCENARIOS), metavar="GLOB")
    p.add_argument("--seeds", type=_seeds, default="7,11,23", help="comma-separated whole numbers >= 0")
    p.add_argument("--jobs", type=_jobs, default=2)
    p.add_argument("--strategies", default="cheapest,credit-burn")
    p.add_argument("--no-fail", action="store_true", help="exit 0 even when a target is missed")
    args = p.parse_args(argv)
    unknown = [n for n in args.strategies.split(",") if n not in (*STRATEGIES, *DIAGNOSTICS)]
    if unknown:
        p.error(f"--strategies: unknown {', '.join(unknown)} (known: {', '.join((*STRATEGIES, *DIAGNOSTICS))})")
    files = scenario_files(args.scenarios)
    seeds: list[int] = args.seeds
    jobs = [(f, n) for f in files for n in seeds]
    print(f"credit_table: {len(files)} scenarios × {len(seeds)} seeds, {args.jobs} at a time", file=sys.stderr)
    other = other_strategy(args.strategies.split(","))
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, f, n, args.strategies) for f, n in jobs]
        runs = []
        for fut in futures:
            r = fut.result()
            print(f"  {r.file} seed {r.seed}: {'ok' if r.doc else r.error} ({r.seconds:.0f} s)", file=sys.stderr)
            if r.doc is not None:  # its row as it comes: a long table can be read before it ends
                print(f"  {row(r, other)}", file=sys.stderr)
            runs.append(r)
    print(table(runs, args.strategies.split(",")))
    print()
    print(summary(runs))
    return 0 if args.no_fail or all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
