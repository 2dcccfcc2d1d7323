"""Credit-simulation scenarios: the YAML schema (see bench/README.md), loading, and the gateway config they make.

A scenario becomes a real :class:`balancer.config.Config` (providers with limits, prices and grants; routes
with candidates), so the simulation drives the same routes, ledger and planner the gateway builds.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import yaml

from balancer import config as config_mod
from balancer.credit.pricing import day_start
from balancer.credit.trace import Trace


class GrantSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    tokens: int | None = None
    amount: float | None = None  # CNY
    models: list[str] = []
    starts: int = 0  # day index, inclusive
    expires: int = 29  # last usable day index (usable through the end of that day)


class ProviderSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    vendor: str = "deepseek"  # any registry vendor: only its name matters here
    tpm: int = 0  # tokens per minute; 0 = unlimited
    prices: dict[str, list[float]]  # model -> [input, output] CNY per million tokens
    grants: list[GrantSpec] = []
    outages: list[list[float]] = []  # [from_day, to_day] (fractional days) when every call fails


class RouteSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tokens_per_hour: float  # mean demand
    input_share: float = 0.75
    diurnal: float = 0.5  # amplitude of the daily cycle (0: flat)
    peak_hour: float = 14.0  # UTC hour of the daily peak
    noise: float = 0.15  # sigma of the hourly lognormal noise
    candidates: list[list[str]]  # [provider, model] in priority order


class Scenario(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    start: dt.date = dt.date(2026, 11, 1)
    days: int = 30
    seed: int = 1
    requests_per_hour: int = 60  # simulated requests per route per hour (each carries demand / requests tokens)
    replan_minutes: float = 15.0  # the gateway re-plans every planning.replan_s (5 minutes by default)
    safety_margin: float = 0.05
    expiry_scale: float = 1.0  # variants: multiply every grant's expiry day (grants expiring sooner)
    tpm_scale: float = 1.0  # variants: multiply every provider's TPM (tighter rate limits)
    providers: dict[str, ProviderSpec]
    routes: dict[str, RouteSpec]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load(path: str | Path) -> Scenario:
    """Read a scenario; ``extends: other.yaml`` merges this file's mappings over another scenario's (which
    may extend another in turn)."""
    return msgspec.convert(_raw(Path(path)), Scenario, strict=False)


def _raw(p: Path, depth: int = 0) -> dict[str, Any]:
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    parent = data.pop("extends", None)
    if parent and depth < 8:
        data = _merge(_raw(p.parent / parent, depth + 1), data)
    return data  # type: ignore[no-any-return]


def expiry_day(s: Scenario, g: GrantSpec) -> int:
    return max(g.starts, math.floor(g.expires * s.expiry_scale))


def to_config(s: Scenario) -> config_mod.Config:
    providers: dict[str, Any] = {}
    for name, p in s.providers.items():
        grants = [
            {
                "name": g.name,
                **({"tokens": g.tokens} if g.tokens is not None else {"amount": g.amount}),
                "models": g.models,
                "starts": s.start + dt.timedelta(days=g.starts),
                "expires": s.start + dt.timedelta(days=expiry_day(s, g)),
            }
            for g in p.grants
        ]
        providers[name] = {
            "vendor": p.vendor,
            "limits": {"tpm": round(p.tpm * s.tpm_scale)},
            "prices": {m: {"input": io[0], "output": io[1]} for m, io in p.prices.items()},
            "account": {"grants": grants},
        }
    routes = {
        name: {"strategy": "credit-burn", "candidates": [{"provider": c[0], "model": c[1]} for c in r.candidates]}
        for name, r in s.routes.items()
    }
    data = {"server": {"insecure_no_auth": True}, "providers": providers, "routes": routes}
    data["planning"] = {"safety_margin": s.safety_margin}
    return config_mod.parse(data, f"scenario {s.name}")


def trace(s: Scenario) -> Trace:
    """The hourly demand of every route (diurnal cycle × lognormal noise) and each provider's outage hours."""
    rng = np.random.default_rng(s.seed)
    hours = s.days * 24
    hod = np.arange(hours) % 24
    demand = {}
    for name, r in s.routes.items():
        cycle = 1.0 + r.diurnal * np.cos(2 * np.pi * (hod - r.peak_hour) / 24)
        noise = rng.lognormal(-0.5 * r.noise**2, r.noise, hours)
        demand[name] = r.tokens_per_hour * cycle * noise
    down = {}
    for name, p in s.providers.items():
        mask = np.zeros(hours, dtype=bool)
        for a, b in p.outages:
            mask[math.floor(a * 24) : math.ceil(b * 24)] = True
        down[name] = mask
    return _trace(s, hours, demand, down)


def _trace(s: Scenario, hours: int, demand: dict[str, np.ndarray], down: dict[str, np.ndarray]) -> Trace:
    """The shared :class:`balancer.credit.trace.Trace` of a scenario's demand and outages."""
    share = {name: r.input_share for name, r in s.routes.items()}
    return Trace(day_start(s.start), hours, demand, share, down)
