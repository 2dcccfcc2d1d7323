"""Credit-simulation scenarios: the YAML schema (see bench/README.md), loading, and the gateway config they make.

A scenario becomes a real :class:`balancer.config.Config` (providers with limits, prices and grants; routes
with candidates), so the simulation drives the same routes, ledger and planner the gateway builds, and a
:class:`balancer.credit.trace.Trace` (hourly demand per route, outage hours, price changes).

Demand per route and hour is ``tokens_per_hour`` × daily cycle × weekday multiplier × steps × trend × bursts
× log-normal noise (AR(1) from hour to hour when ``ar`` is set), or an explicit series read from a file.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import msgspec
import numpy as np

from balancer import config as config_mod
from balancer.credit.pricing import day_start
from balancer.credit.trace import PriceChange, Trace
from bench import scenario_rules
from bench.scenario_files import ScenarioError, load_series, raw

__all__ = ["Scenario", "ScenarioError", "Trace", "load", "load_series", "to_config", "trace"]

Pair = Annotated[list[float], msgspec.Meta(min_length=2, max_length=2)]


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
    outages: list[Pair] = []  # [from_day, to_day) (fractional days) when every call fails


class BurstSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    per_week: float  # Poisson rate of burst starts
    hours: Pair  # [min, max] duration, uniform
    factor: Pair  # [min, max] demand multiplier while it lasts, uniform


class RouteSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tokens_per_hour: float | None = None  # mean demand (before weekly, steps, trend, bursts); not with series
    input_share: float = 0.75
    diurnal: float = 0.5  # amplitude of the daily cycle (0: flat)
    peak_hour: float = 14.0  # UTC hour of the daily peak
    noise: float = 0.15  # sigma of the hourly log-normal noise
    ar: float = 0.0  # AR(1) coefficient of the log-noise from hour to hour (0: independent); sigma stays noise
    weekly: Annotated[list[float], msgspec.Meta(min_length=7, max_length=7)] | None = None  # Mon..Sun multipliers
    steps: list[Pair] = []  # [day, factor]: demand × factor from that (fractional) day on; they compound
    trend: float = 0.0  # growth per day, multiplicative: × (1 + trend) ** days
    bursts: BurstSpec | None = None
    series: str | None = None  # CSV/JSONL of this route's hourly demand (path relative to the YAML): replaces the rest
    unserved_price: float | None = None  # CNY per Mtok a token no candidate serves costs (config's route field)
    candidates: list[Annotated[list[str], msgspec.Meta(min_length=2, max_length=2)]]  # [provider, model], in order


class PriceChangeSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    day: float  # from this (fractional) day on
    provider: str
    model: str
    prices: Pair  # [input, output] CNY per million tokens


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
    price_changes: list[PriceChangeSpec] = []


def load(path: str | Path) -> Scenario:
    """Read a scenario; ``extends: other.yaml`` merges this file's mappings over another scenario's (which
    may extend another in turn). A route's ``series`` is resolved against the file that names it, and read
    here once so that a bad file fails at load, naming its line."""
    p = Path(path)
    try:
        s = msgspec.convert(raw(p), Scenario, strict=False)
    except msgspec.ValidationError as e:
        raise ScenarioError(f"{p}: {e}") from None
    _check(s, p)
    return s


def seeded(path: str | Path, seed: int | None) -> Scenario:
    """:func:`load`, its noise seed replaced by ``seed`` (and named in its name) unless that is None: what the
    bench CLIs' ``--seed`` does."""
    s = load(path)
    if seed is not None and not 0 <= seed < 2**63:
        raise ScenarioError(f"seed {seed}: a whole number from 0 to 2^63 - 1")
    return s if seed is None else msgspec.structs.replace(s, seed=seed, name=f"{s.name} (seed {seed})")


def for_cli(path: str | Path, seed: int | None = None) -> Scenario:
    """:func:`seeded` for a command line: a bad scenario prints ``error: ...`` and exits 2, never a traceback."""
    try:
        return seeded(path, seed)
    except ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _check(s: Scenario, p: Path) -> None:
    found = scenario_rules.problem(s)
    if found:
        raise ScenarioError(f"{p}: {found}")
    _series(s)
    try:
        to_config(s)
    except config_mod.ConfigError as e:
        raise ScenarioError(f"{p}: {e}") from None


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
    routes: dict[str, Any] = {}
    for name, r in s.routes.items():
        cands = [{"provider": c[0], "model": c[1]} for c in r.candidates]
        routes[name] = {"strategy": "credit-burn", "candidates": cands}
        if r.unserved_price is not None:
            routes[name]["unserved_price"] = r.unserved_price
    data = {"server": {"insecure_no_auth": True}, "providers": providers, "routes": routes}
    data["planning"] = {"safety_margin": s.safety_margin}
    return config_mod.parse(data, f"scenario {s.name}")


def _series(s: Scenario) -> dict[str, np.ndarray]:
    files: dict[str, dict[str, RouteSpec]] = {}
    for name, r in s.routes.items():
        if r.series is not None:
            files.setdefault(r.series, {})[name] = r
    out: dict[str, np.ndarray] = {}
    for path, routes in files.items():
        out |= load_series(path, routes, s.start, s.days * 24)
    return out


# --- the trace -----------------------------------------------------------------------------------------------


def _noise(rng: np.random.Generator, r: RouteSpec, hours: int) -> np.ndarray:
    """Mean-one log-normal noise with log-sigma ``noise``; with ``ar`` the log-noise is AR(1), same sigma.
    One draw of ``hours`` normals either way, so the other routes' noise does not move."""
    x = rng.lognormal(-0.5 * r.noise**2, r.noise, hours)
    if r.ar == 0.0 or r.noise == 0.0:
        return x
    z = (np.log(x) + 0.5 * r.noise**2) / r.noise  # the standard normals behind x
    e = np.empty(hours)
    e[0] = z[0]
    c = math.sqrt(1.0 - r.ar**2)
    for h in range(1, hours):
        e[h] = r.ar * e[h - 1] + c * z[h]
    return np.exp(r.noise * e - 0.5 * r.noise**2)


def _bursts(rng: np.random.Generator, b: BurstSpec, hours: int) -> np.ndarray:
    """Multipliers per hour: bursts arrive as a Poisson process, each lasting a uniform number of hours (weighted
    by the part of an hour it covers) with demand × a uniform factor; overlapping bursts multiply."""
    mult = np.ones(hours)
    for _ in range(rng.poisson(b.per_week * hours / 168.0)):
        a = rng.uniform(0.0, hours)
        e = a + rng.uniform(b.hours[0], b.hours[1])
        f = rng.uniform(b.factor[0], b.factor[1])
        for h in range(math.floor(a), min(hours, math.ceil(e))):
            cover = min(e, h + 1.0) - max(a, float(h))
            mult[h] *= 1.0 + (f - 1.0) * cover
    return mult


def _shape(s: Scenario, r: RouteSpec, hours: int) -> np.ndarray:
    """Weekday multipliers × steps × trend per hour (ones when none is set)."""
    t = np.arange(hours, dtype=float)
    m = np.ones(hours)
    if r.weekly is not None:
        m *= np.asarray(r.weekly)[(s.start.weekday() + t.astype(int) // 24) % 7]
    for day, factor in r.steps:
        m[t + 0.5 >= day * 24.0] *= factor  # the hour whose middle is past the step
    if r.trend:
        m *= (1.0 + r.trend) ** (t / 24.0)
    return m


def trace(s: Scenario) -> Trace:
    """The hourly demand of every route (diurnal cycle × weekly × steps × trend × bursts × log-normal noise, or its
    series), each provider's outage hours and the price changes; and what each route's generator expects per hour
    (``Trace.expected``: the same without the noise, whose mean is 1, and with the bursts' mean excess in every
    hour, overlaps aside; a series is its own expectation), for the ``credit-burn+shape`` diagnostic.

    The noise draws one lognormal array per route in route order from ``seed`` (drawn for a series route too), so
    a scenario without the newer fields gets the same trace as before; bursts draw from a stream of their own."""
    rng = np.random.default_rng(s.seed)
    hours = s.days * 24
    hod = np.arange(hours) % 24
    series = _series(s)
    demand, expected = {}, {}
    for i, (name, r) in enumerate(s.routes.items()):
        noise = _noise(rng, r, hours)  # drawn even for a series, so the next routes' draws stay put
        if name in series:
            demand[name] = expected[name] = series[name]
            continue
        assert r.tokens_per_hour is not None
        cycle = 1.0 + r.diurnal * np.cos(2 * np.pi * (hod - r.peak_hour) / 24)
        d, shape = r.tokens_per_hour * cycle * noise, _shape(s, r, hours)
        if r.weekly is not None or r.steps or r.trend:
            d = d * shape
        mean = r.tokens_per_hour * cycle * shape
        if r.bursts is not None:
            d = d * _bursts(np.random.default_rng([s.seed, 0xB, i]), r.bursts, hours)
            burst = r.bursts  # a burst's mean excess, times how many start per hour on average
            mean = mean * (1.0 + burst.per_week / 168.0 * sum(burst.hours) / 2 * (sum(burst.factor) / 2 - 1.0))
        demand[name], expected[name] = d, mean
    down = {}
    for name, p in s.providers.items():
        mask = np.zeros(hours, dtype=bool)
        for a, b in p.outages:
            mask[math.floor(a * 24) : math.ceil(b * 24)] = True
        down[name] = mask
    changes = tuple(
        PriceChange(round(c.day * 24), c.provider, c.model, c.prices[0], c.prices[1])
        for c in sorted(s.price_changes, key=lambda c: c.day)
    )
    return Trace(
        start=day_start(s.start),
        hours=hours,
        demand=demand,
        input_share={name: r.input_share for name, r in s.routes.items()},
        down=down,
        price_changes=changes,
        expected=expected,
    )
