"""What a re-plan keeps for the next (``Warm``): the demand model is reused within an hour, and the plan is the same."""

from __future__ import annotations

import asyncio

import pytest

from balancer.credit.ledger import Charge
from balancer.credit.planner import make_plan
from balancer.credit.schedule import Warm
from bench.planner_bench import history

H = 3600.0


@pytest.mark.timeout(240)  # five cold plans of the default month: 20-30 s beside other work
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


@pytest.mark.timeout(240)  # five cold plans of the default month: 20-30 s beside other work
def test_a_grant_used_up_within_the_hour_rebuilds_the_demand_model() -> None:
    """A grant used up between two re-plans of an hour takes its deadlines out of the segment bounds: the forecasts
    are the same, yet the demand model is built again, and the plan is the one a re-plan made afresh gives."""
    hist = history("bench/scenarios/default.yaml", days=3)
    cfg, books, ledger, t0 = hist.cfg, hist.books, hist.ledger, hist.start
    now = t0 + 3 * 86400.0 + 600
    warm = Warm()
    make_plan(cfg, books, asyncio.run(ledger.snapshot(now)), now, warm=warm)
    assert warm.demand is not None
    before = warm.demand
    ledger.book(Charge("zhipu", "glm-4-air", "fast", 75_000_000, 25_000_000), now + 60)  # air-pack's 100M, all of it
    snap = asyncio.run(ledger.snapshot(now + 900))
    assert not any(b.grant.name == "air-pack" and b.remaining > 0 for b in snap.grants)
    fresh = Warm(warm.shape, warm.basis)
    plan = make_plan(cfg, books, snap, now + 900, warm=warm)
    assert warm.demand is not before and warm.demand[0] != before[0]
    key, old = warm.demand[0], before[0]
    assert isinstance(key, tuple) and isinstance(old, tuple)
    assert key[1] == old[1] and key[0] != old[0]  # (bounds, forecasts): the same forecasts, other bounds
    assert repr(plan) == repr(make_plan(cfg, books, snap, now + 900, warm=fresh))
