"""A plan is the same in every process: no string hash order (PYTHONHASHSEED) reaches the LP or the plan."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PLAN = """
import asyncio
from bench import scenario
from balancer.credit.ledger import Charge, MemoryLedger, books_from_config
from balancer.credit.pricing import day_start
from balancer.credit.planner import make_plan
s = scenario.for_cli("bench/scenarios/default.yaml")
t, cfg = scenario.trace(s), scenario.to_config(s)
books = books_from_config(cfg)
ledger, t0 = MemoryLedger(books), day_start(s.start)
for h in range(4 * 24):
    for r in s.routes:
        tok = int(t.demand[r][h])
        ledger.book(Charge("deepseek", "deepseek-chat", r, tok * 3 // 4, tok // 4), t0 + h * 3600)
now = t0 + 3 * 86400.0 + 600
print(repr(make_plan(cfg, books, asyncio.run(ledger.snapshot(now)), now)))
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
