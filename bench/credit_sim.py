"""Credit-burn simulation: replay a 30-day hourly trace against provider accounts with grants, per strategy.

    python -m bench.credit_sim --scenario bench/scenarios/default.yaml

Drives the gateway's own code on a virtual clock: the routes compiled from a real config, the strategy
functions in ``balancer.router.STRATEGIES``, the planner (``balancer.credit.planner.make_plan``, re-planned every
``replan_minutes`` from the ledger and the providers' health, warm-started) and the in-memory ledger that
prices and books every request. Each hour, every route sends ``requests_per_hour`` requests (its demand split
evenly), interleaved across routes; a provider in an outage is unhealthy (left out before the strategy, as
``router.order`` does, and named to the planner as the gateway's health would), and one
at its hourly capacity (TPM × 60) refuses, so the request falls to the next candidate in the order.
The bound is the offline LP optimum (``bench/optimum.py``). Prints a table and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from balancer import router
from balancer.credit.ledger import Charge, MemoryLedger, books_from_config
from balancer.credit.plan import RoutePlan
from balancer.credit.planner import make_plan
from balancer.credit.pricing import day_start
from balancer.credit.schedule import Warm
from balancer.routes import CompiledRoute, compile_routes
from balancer.state import candidate_key
from bench import optimum, scenario
from bench.scenario import Scenario, Trace

STRATEGIES = ("round-robin", "priority", "cheapest-list", "cheapest", "credit-burn")


@dataclass(slots=True)
class Result:
    strategy: str
    paid_cny: float = 0.0
    burned: dict[str, int] = field(default_factory=dict)
    wasted_tokens: int = 0
    unserved: float = 0.0
    seconds: float = 0.0


def _round_robin() -> router.Strategy:
    turn = itertools.count()

    def rr(choices: Sequence[router.Choice], ctx: router.StrategyContext) -> list[router.Choice]:
        if not choices:
            return []
        k = next(turn) % len(choices)
        return [*choices[k:], *choices[:k]]

    return rr


async def simulate(s: Scenario, t: Trace, name: str) -> Result:
    cfg = scenario.to_config(s)
    routes = compile_routes(cfg, router.STRATEGIES)
    books = books_from_config(cfg)
    ledger = MemoryLedger(books)
    fn = _round_robin() if name == "round-robin" else router.STRATEGIES[name.removesuffix("-list")]
    listed = {n: RoutePlan(price=_list_prices(books, r)) for n, r in routes.items()}
    plans: dict[str, RoutePlan] = listed
    rng = random.Random(s.seed)
    t0 = day_start(s.start)
    k = s.requests_per_hour
    first = next(iter(s.routes))
    res, clock = Result(name), time.perf_counter()
    warm = Warm()
    every = max(1, round(k * s.replan_minutes / 60)) if name == "credit-burn" else k  # cheapest: prices, hourly
    for h in range(t.hours):
        now = t0 + h * 3600.0
        cap = {p: (spec.tpm * s.tpm_scale * 60.0 or float("inf")) for p, spec in s.providers.items()}
        down = frozenset(  # what health tells the gateway
            candidate_key(c.provider_name, c.model)
            for r in routes.values()
            for c in r.choices
            if t.down[c.provider_name][h]
        )
        for i, rname in itertools.product(range(k), s.routes):
            at = now + i * 3600.0 / k
            if name in ("cheapest", "credit-burn") and i % every == 0 and rname == first:
                snap = await ledger.snapshot(at)
                plans = dict(make_plan(cfg, books, snap, at, down=down, warm=warm).routes)
            tokens = float(t.demand[rname][h]) / k
            route = routes[rname]
            healthy = [c for c in route.choices if not t.down[c.provider_name][h]]
            ctx = router.StrategyContext(now=at, rng=rng, plan=plans.get(rname))
            left = tokens  # one simulated request stands for many small ones: what does not fit falls over
            for c in fn(healthy, ctx):
                take = min(left, cap[c.provider_name])
                if take <= 0:
                    continue
                cap[c.provider_name] -= take
                left -= take
                prompt = round(take * s.routes[rname].input_share)
                ledger.book(Charge(c.provider_name, c.model, rname, prompt, round(take) - prompt), ctx.now)
                if left <= 0:
                    break
            res.unserved += left
    snap = await ledger.snapshot(t0 + t.hours * 3600.0)
    res.paid_cny = sum(r.micro for r in snap.rows if r.bucket == "paid") / 1e6
    res.burned = {g.grant.key: g.used for g in snap.grants}
    res.wasted_tokens = sum(g.remaining for g in snap.grants if g.grant.unit == "tokens")
    res.seconds = time.perf_counter() - clock
    return res


def _list_prices(books: dict, route: CompiledRoute) -> dict[int, float]:
    from balancer.credit.horizon import blended

    return {c.index: blended(books.get(c.provider_name), c.model) for c in route.choices}


def report(
    s: Scenario, results: list[Result], opt: optimum.Optimum, lp_s: float, verbose: bool = False
) -> dict[str, object]:
    token_grants = {f"{p}/{g.name}" for p, spec in s.providers.items() for g in spec.grants if g.tokens is not None}
    size = sum(g.tokens or 0 for spec in s.providers.values() for g in spec.grants)
    opt_burn = sum(v for k, v in opt.burned.items() if k in token_grants)
    print(f"scenario {s.name}: {s.days} days, {len(s.providers)} providers, {len(s.routes)} routes")
    print(
        f"LP optimum: paid ¥{opt.paid_cny:,.2f}, grant tokens burned {opt_burn / 1e6:,.2f}M of {size / 1e6:,.2f}M, "
        f"unserved {opt.unserved / 1e6:.2f}M"
    )
    print(f"{'strategy':14} {'paid ¥':>14} {'× optimum':>10} {'wasted M':>10} {'burn vs opt':>12} {'unserved M':>11}")
    out: dict[str, object] = {}
    for r in results:
        burn = sum(v for k, v in r.burned.items() if k in token_grants)
        ratio = r.paid_cny / opt.paid_cny if opt.paid_cny else float("inf")
        rel = burn / opt_burn if opt_burn else 1.0
        print(
            f"{r.strategy:14} {r.paid_cny:>14,.2f} {ratio:>10.4f} {r.wasted_tokens / 1e6:>10.2f} "
            f"{rel:>12.4f} {r.unserved / 1e6:>11.2f}"
        )
        out[r.strategy] = {
            "paid_cny": round(r.paid_cny, 2),
            "ratio": round(ratio, 4),
            "wasted_mtok": round(r.wasted_tokens / 1e6, 3),
            "burn_vs_opt": round(rel, 4),
            "unserved_mtok": round(r.unserved / 1e6, 3),
            "seconds": round(r.seconds, 2),
        }
    if verbose:
        names = sorted(opt.burned)
        print("burned per grant (M units; money grants in ¥):", *names, sep="\n  ")
        for r in [*results, None]:
            src = opt.burned if r is None else r.burned
            label = "optimum" if r is None else r.strategy
            print(f"{label:14}", " ".join(f"{src.get(n, 0) / 1e6:8.2f}" for n in names))
    cb = out.get("credit-burn")
    return {
        "bench": "credit_sim",
        "scenario": s.name,
        "optimum_paid_cny": round(opt.paid_cny, 2),
        "optimum_burned_mtok": round(opt_burn / 1e6, 3),
        "lp_seconds": round(lp_s, 2),
        "strategies": out,
        "target_met": bool(
            isinstance(cb, dict) and cb["ratio"] <= 1.02 and cb["burn_vs_opt"] >= 0.99  # type: ignore[operator]
        ),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="bench/scenarios/default.yaml")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--verbose", action="store_true", help="also print what each strategy burned per grant")
    p.add_argument("--seed", type=int, help="override the scenario's noise seed")
    args = p.parse_args(argv)
    s = scenario.load(args.scenario)
    if args.seed is not None:
        s = msgspec.structs.replace(s, seed=args.seed, name=f"{s.name} (seed {args.seed})")
    t = scenario.trace(s)
    t_lp = time.perf_counter()
    opt = optimum.solve(s, t)
    lp_s = time.perf_counter() - t_lp
    run: Callable[[str], Result] = lambda n: asyncio.run(simulate(s, t, n))  # noqa: E731
    results = [run(n) for n in args.strategies.split(",")]
    print(json.dumps(report(s, results, opt, lp_s, args.verbose), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
