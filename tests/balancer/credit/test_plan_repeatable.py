"""A plan is the same in every process: no string hash order (PYTHONHASHSEED) reaches the LP or the plan."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

PLAN = """
import asyncio
from balancer.credit.planner import make_plan
from bench.planner_bench import history
h = history("bench/scenarios/default.yaml", days=4)
now = h.start + 3 * 86400.0 + 600
print(repr(make_plan(h.cfg, h.books, asyncio.run(h.ledger.snapshot(now)), now)))
"""


def plans_with(seeds: tuple[int, ...]) -> dict[int, str]:
    """The plan printed by one process per hash seed, the processes run side by side."""
    procs = {
        seed: subprocess.Popen(
            [sys.executable, "-c", PLAN],
            env={**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in seeds
    }
    out = {}
    for seed, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=280)
        assert proc.returncode == 0, stderr
        out[seed] = stdout
    return out


@pytest.mark.timeout(300)  # four processes loading numpy and HiGHS: a minute on a machine busy with other work
def test_the_plan_does_not_depend_on_the_hash_seed() -> None:
    """Four processes with different string hash seeds make the same plan from the same snapshot (the default
    scenario's first three days: eight providers, grants, a voucher): gateway instances planning from one shared
    ledger agree, and a simulation repeats."""
    plans = plans_with((1, 2, 3, 4))
    assert len(plans[1]) > 1000
    assert all(p == plans[1] for p in plans.values())
