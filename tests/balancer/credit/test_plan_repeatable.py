"""A plan is the same in every process: no string hash order (PYTHONHASHSEED) reaches the LP or the plan."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PLAN = """
import asyncio
from balancer.credit.planner import make_plan
from bench.planner_bench import history
h = history("bench/scenarios/default.yaml", days=4)
now = h.start + 3 * 86400.0 + 600
print(repr(make_plan(h.cfg, h.books, asyncio.run(h.ledger.snapshot(now)), now)))
"""


def plan_with(seed: int) -> str:
    env = {**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PLAN], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_plan_does_not_depend_on_the_hash_seed() -> None:
    """Four processes with different string hash seeds make the same plan from the same snapshot (the default
    scenario's first three days: eight providers, grants, a voucher): gateway instances planning from one shared
    ledger agree, and a simulation repeats."""
    plans = {seed: plan_with(seed) for seed in (1, 2, 3, 4)}
    assert len(plans[1]) > 1000
    assert all(p == plans[1] for p in plans.values())
