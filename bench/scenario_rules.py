"""What a scenario may say beyond its schema's types: every number finite, each field in its range, grants and
candidates that make sense. A YAML float can be ``.inf``, ``.nan`` or -5, and a burst rate of 1e9 a week or a
run of 10^8 days would hang the trace's generation instead of failing: each is one clear error here.

Generic over msgspec Structs (a new numeric field is checked finite and >= 0 without being listed); the fields
with other bounds are named in :data:`BOUNDS`. Used by :func:`bench.scenario.load`.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

MAX_DAYS = 366
# field -> (least, most), inclusive; every other number is finite and >= 0
BOUNDS: dict[str, tuple[float, float]] = {
    "days": (1, MAX_DAYS),
    "requests_per_hour": (1, 3600),
    "replan_minutes": (1 / 60, 1440),
    "input_share": (0.0, 1.0),
    "diurnal": (0.0, 1.0),  # above 1 the daily cycle would ask for negative demand
    "noise": (0.0, 3.0),
    "ar": (-0.999, 0.999),
    "per_week": (0.0, 168.0),  # a burst starting every hour at most
    "trend": (-0.5, 1.0),  # per day
    "peak_hour": (-24.0, 48.0),
    "expiry_scale": (0.01, 100.0),
    "tpm_scale": (0.001, 1e6),
    "tokens_per_hour": (0.0, 1e12),
    "hours": (0.0, MAX_DAYS * 24.0),
}
ORDERED = frozenset({"hours", "factor", "outages"})  # [from, to] pairs: from <= to


def problem(s: Any) -> str | None:
    """The first thing wrong with a scenario (a path and what it must be), or None."""
    return _numbers(s, "", "") or _grants(s) or _references(s)


def _numbers(value: object, where: str, field: str) -> str | None:
    if isinstance(value, msgspec.Struct):
        for f in msgspec.structs.fields(value):
            found = _numbers(getattr(value, f.name), f"{where}.{f.name}" if where else f.name, f.name)
            if found:
                return found
        return None
    if isinstance(value, dict):
        return next(filter(None, (_numbers(v, f"{where}.{k}", field) for k, v in value.items())), None)
    if isinstance(value, list | tuple):
        pair = field in ORDERED and len(value) == 2 and all(isinstance(v, int | float) for v in value)
        if pair and value[0] > value[1]:
            return f"{where}: [from, to] with from <= to, not {list(value)}"
        return next(filter(None, (_numbers(v, f"{where}[{i}]", field) for i, v in enumerate(value))), None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        lo, hi = BOUNDS.get(field, (0.0, math.inf))
        if not (math.isfinite(value) and lo <= value <= hi):
            return f"{where}: must be a finite number in [{lo:g}, {hi:g}], not {value}"
    return None


def _grants(s: Any) -> str | None:
    for name, p in s.providers.items():
        for i, g in enumerate(p.grants):
            where = f"providers.{name}.grants[{i}] ({g.name})"
            if (g.tokens is None) == (g.amount is None):
                return f"{where}: give exactly one of tokens (a token pack) or amount (CNY, a voucher)"
            if g.expires < g.starts:
                return f"{where}: expires on day {g.expires}, before it starts (day {g.starts})"
    return None


def _references(s: Any) -> str | None:
    def priced(provider: str, model: str) -> bool:
        return provider in s.providers and model in s.providers[provider].prices

    for name, r in s.routes.items():
        if r.series is None and r.tokens_per_hour is None:
            return f"route {name}: tokens_per_hour or series is required"
        for prov, model in r.candidates:
            if not priced(prov, model):
                return f"route {name}: candidate {prov}/{model} is not a provider's priced model"
    for c in s.price_changes:
        if not priced(c.provider, c.model):
            return f"price change on day {c.day}: {c.provider}/{c.model} is not a priced model"
        if not 0 <= c.day < s.days:
            return f"price change day {c.day} is outside the scenario's {s.days} days"
    return None
