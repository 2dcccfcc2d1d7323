"""Write credit-burn scenarios nobody designed: random accounts, grants and traffic, one YAML file per index.

    python -m bench.random_scenarios --out /tmp/rand --first 0 --count 24
    python -m bench.credit_table --seeds 1 --strategies credit-burn --scenarios '/tmp/rand/*.yaml'

The shipped scenarios were each written with a defect in mind; these are drawn from wide ranges instead, so
the planner meets combinations no one thought of: 3-6 providers of the registry's names plus an unlimited
paid DeepSeek, 1-3 models each at list prices from 0.3 to 20 CNY/M input (15% of them free), TPM 1,000-8,000,
0-2 grants per account (token packs on one model, or money vouchers on every model; some starting later),
outages of hours, a price change, and 1-3 routes with diurnal cycles, AR(1) noise, weekly patterns, bursts,
steps (×0.5 to ×2) and trends, 10-21 days. Index i always writes the same file (its own random stream).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import yaml

MODELS = {
    "ernie": ["ernie-4.0", "ernie-speed"],
    "qwen": ["qwen-max", "qwen-plus", "qwen-turbo"],
    "zhipu": ["glm-4-plus", "glm-4-air", "glm-4-flash"],
    "spark": ["spark-max", "spark-lite"],
    "hunyuan": ["hunyuan-turbo", "hunyuan-lite"],
    "tiangong": ["tiangong-3", "tiangong-2"],
    "yi": ["yi-large", "yi-lightning"],
    "moonshot": ["moonshot-v1-8k"],
    "minimax": ["abab6.5s"],
    "baichuan": ["baichuan4"],
}
PAID = ("deepseek", "deepseek-chat", [2.0, 3.0])  # always there, unlimited: every route can be served


def _prices(rng: random.Random, models: list[str]) -> dict[str, list[float]]:
    out = {}
    for m in models:
        if rng.random() < 0.15:
            out[m] = [0.0, 0.0]
        else:
            a = round(rng.uniform(0.3, 20), 2)
            out[m] = [a, round(a * rng.uniform(1, 4), 2)]
    return out


def _grants(rng: random.Random, days: int, tpm: int, prices: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Token packs sized to 10-90% of what the provider could serve in the pack's window; vouchers of ¥5-150."""
    out: list[dict[str, Any]] = []
    for k in range(rng.choice([0, 1, 1, 2])):
        expires = rng.randint(2, days - 1)
        starts = rng.choice([0, 0, 0, rng.randint(0, max(0, expires - 2))])
        hours = (expires + 1 - starts) * 24
        if rng.random() < 0.7:
            model = rng.choice([m for m, p in prices.items() if p[0] > 0] or list(prices))
            tokens = int(tpm * 60 * hours * rng.uniform(0.1, 0.9))
            out.append({"name": f"g{k}", "tokens": tokens, "models": [model], "starts": starts, "expires": expires})
        else:
            amount = round(rng.uniform(5, 150), 1)
            out.append({"name": f"v{k}", "amount": amount, "starts": starts, "expires": expires})
    return out


def _providers(rng: random.Random, days: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in rng.sample(sorted(MODELS), rng.randint(3, 6)):
        prices = _prices(rng, rng.sample(MODELS[name], rng.randint(1, len(MODELS[name]))))
        tpm = rng.choice([1000, 2000, 3000, 5000, 8000])
        p: dict[str, Any] = {"tpm": tpm, "prices": prices}
        if grants := _grants(rng, days, tpm, prices):
            p["grants"] = grants
        if rng.random() < 0.2:
            a = round(rng.uniform(0.5, days - 2), 2)
            p["outages"] = [[a, round(a + rng.uniform(0.25, 2), 2)]]
        out[name] = p
    out[PAID[0]] = {"tpm": 0, "prices": {PAID[1]: PAID[2]}}
    return out


def _route(rng: random.Random, days: int, models: list[tuple[str, str]]) -> dict[str, Any]:
    picked = rng.sample(models, min(len(models), rng.randint(2, 5)))
    r: dict[str, Any] = {
        "tokens_per_hour": rng.randint(100, 1200) * 1000,
        "input_share": round(rng.uniform(0.6, 0.9), 2),
        "diurnal": round(rng.uniform(0, 0.7), 2),
        "peak_hour": rng.randint(0, 23),
        "noise": round(rng.uniform(0.05, 0.3), 2),
        "candidates": [[p, m] for p, m in picked] + [[PAID[0], PAID[1]]],
    }
    if rng.random() < 0.5:
        r["ar"] = round(rng.uniform(0.3, 0.9), 2)
    if rng.random() < 0.4:
        r["weekly"] = [round(rng.uniform(0.6, 1.2), 2) for _ in range(7)]
    if rng.random() < 0.4:
        r["bursts"] = {"per_week": rng.randint(1, 4), "hours": [2, 8], "factor": [1.5, 3.0]}
    if rng.random() < 0.4:
        r["steps"] = [[round(rng.uniform(2, days - 2), 1), rng.choice([0.5, 0.7, 1.5, 2.0])]]
    if rng.random() < 0.2:
        r["trend"] = round(rng.uniform(-0.03, 0.05), 3)
    return r


def scenario(index: int) -> dict[str, Any]:
    """Scenario ``index`` as the YAML document (the same one every time)."""
    rng = random.Random(1000 + index)
    days = rng.choice([10, 14, 21])
    providers = _providers(rng, days)
    models = [(p, m) for p, spec in providers.items() if p != PAID[0] for m in spec["prices"]]
    routes = {f"r{i}": _route(rng, days, models) for i in range(rng.randint(1, 3))}
    doc: dict[str, Any] = {
        "name": f"random{index}",
        "start": "2026-11-01",
        "days": days,
        "seed": index,
        "requests_per_hour": 40,
        "replan_minutes": 15,
        "safety_margin": 0.05,
        "providers": providers,
        "routes": routes,
    }
    if rng.random() < 0.25:
        p, m = rng.choice(models)
        new = [round(x * rng.uniform(0.4, 1.2), 2) for x in providers[p]["prices"][m]]
        doc["price_changes"] = [{"day": round(rng.uniform(1, days - 1), 1), "provider": p, "model": m, "prices": new}]
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="directory to write random<i>.yaml into")
    p.add_argument("--first", type=int, default=0, help="first index")
    p.add_argument("--count", type=int, default=16, help="how many scenarios")
    args = p.parse_args(argv)
    if args.first < 0 or not 0 < args.count <= 10_000:
        p.error("--first must be >= 0 and --count between 1 and 10000")
    paths = {i: args.out / f"random{i}.yaml" for i in range(args.first, args.first + args.count)}
    if there := [str(path) for path in paths.values() if path.exists()]:
        p.error(f"{there[0]} exists: choose another --out or --first (files are never overwritten)")
    args.out.mkdir(parents=True, exist_ok=True)
    for i, path in paths.items():
        path.write_text(yaml.safe_dump(scenario(i), sort_keys=False, allow_unicode=True), encoding="utf-8")
    print(f"wrote {args.count} scenarios to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
