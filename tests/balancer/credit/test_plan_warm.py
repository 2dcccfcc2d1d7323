"""What a re-plan keeps for the next (``Warm``): the demand model is reused within an hour, and the plan is the same."""

from __future__ import annotations

import asyncio

from balancer.credit.ledger import Charge
from balancer.credit.planner import make_plan
from balancer.credit.schedule import Warm
from bench.planner_bench import history

H = 3600.0


def test_the_demand_model_is_reused_within_the_hour_and_made_afresh_when_its_inputs_change() -> None:
    """A second re-plan in the same hour reuses the first's demand model (the slots and demand of every path and
    band) and plans exactly what a re-plan that builds it afresh from the same basis plans; the next hour, or a
    late count into a past hour (a refit), builds it again."""
    hist = history("bench/scenarios/default.yaml", days=3)
    cfg, books, ledger, t0 = hist.cfg, hist.books, hist.ledger, hist.start
    now = t0 + 3 * 86400.0 + 600
    snap = asyncio.run(ledger.snapshot(now))
    warm = Warm()
    make_plan(cfg, books, snap, now, warm=warm)
    assert warm.demand is not None
    first = warm.demand
    fresh = Warm(warm.shape, warm.basis)  # the same basis, no demand model
    reused = make_plan(cfg, books, snap, now + 900, warm=warm)
    assert warm.demand is first
    assert repr(reused) == repr(make_plan(cfg, books, snap, now + 900, warm=fresh))
    make_plan(cfg, books, snap, now + H, warm=warm)
    assert warm.demand is not first
    hour = warm.demand
    ledger.book(Charge("deepseek", "deepseek-chat", "smart", 900_000, 300_000), now - 5 * H)  # a late count
    make_plan(cfg, books, asyncio.run(ledger.snapshot(now + H)), now + H + 300, warm=warm)
    assert warm.demand is not hour and warm.demand[0] != hour[0]
