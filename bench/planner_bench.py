"""What credit-burn costs: per request (ordering a route's candidates from the plan) and per re-plan (the LP).

    python -m bench.planner_bench [--scenario bench/scenarios/default.yaml] [--days 8]

Builds the scenario's gateway config, books ``--days`` of its traffic into the in-memory ledger, then
times ``make_plan`` cold, warm (the same shape, the next re-plan's case) and across an hour boundary, and
the ``credit-burn`` and ``cheapest`` strategies per call. Prints a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from balancer import router
from balancer.config import Config
from balancer.credit.ledger import AccountBook, Charge, MemoryLedger, books_from_config
from balancer.credit.planner import make_plan
from balancer.credit.pricing import day_start
from balancer.credit.schedule import Warm
from balancer.routes import compile_routes
from bench import scenario


def _per_call(fn: Callable[[], object], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


@dataclass(frozen=True, slots=True)
class History:
    """A scenario's accounts with its first days of traffic booked (all on DeepSeek: every grant left whole)."""

    cfg: Config
    books: dict[str, AccountBook]
    ledger: MemoryLedger
    start: float  # epoch s: the scenario's first hour
    name: str


def history(path: str, days: int) -> History:
    """The scenario at ``path`` with ``days`` days of its own demand trace booked, hour by hour."""
    s = scenario.for_cli(path)
    t, cfg = scenario.trace(s), scenario.to_config(s)
    books = books_from_config(cfg)
    ledger, t0 = MemoryLedger(books), day_start(s.start)
    for h in range(days * 24):
        for r in s.routes:
            tokens = int(t.demand[r][h])
            ledger.book(Charge("deepseek", "deepseek-chat", r, tokens * 3 // 4, tokens // 4), t0 + h * 3600)
    return History(cfg, books, ledger, t0, s.name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="bench/scenarios/default.yaml")
    p.add_argument("--days", type=int, default=8)
    args = p.parse_args(argv)
    hist = history(args.scenario, args.days)
    cfg, books, ledger, t0 = hist.cfg, hist.books, hist.ledger, hist.start
    routes = compile_routes(cfg, router.STRATEGIES)
    now = t0 + args.days * 86400.0 + 600
    snap = asyncio.run(ledger.snapshot(now))
    warm = Warm()
    cold = _per_call(lambda: make_plan(cfg, books, snap, now), 5)
    make_plan(cfg, books, snap, now, warm=warm)
    hot = _per_call(lambda: make_plan(cfg, books, snap, now + 300, warm=warm), 20)
    later = _per_call(lambda: make_plan(cfg, books, snap, now + 3600, warm=warm), 5)
    plan = make_plan(cfg, books, snap, now, warm=warm)
    name = next(iter(routes))
    choices = routes[name].choices
    ctx = router.StrategyContext(now=now, rng=random.Random(1), plan=plan.routes[name])
    burn = _per_call(lambda: router.credit_burn(choices, ctx), 100_000)
    cheap = _per_call(lambda: router.cheapest(choices, ctx), 100_000)
    doc = {
        "bench": "planner",
        "scenario": hist.name,
        "candidates": len(choices),
        "replan_cold_ms": round(cold * 1e3, 1),
        "replan_warm_ms": round(hot * 1e3, 1),
        "replan_next_hour_ms": round(later * 1e3, 1),
        "credit_burn_us": round(burn * 1e6, 2),
        "cheapest_us": round(cheap * 1e6, 2),
        "status": plan.status,
    }
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
