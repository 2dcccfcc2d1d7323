"""The config's numbers, checked in one walk: what a schema's types cannot say (a timeout of -5 or NaN is a float).

Used by :mod:`balancer.config` after the schema; generic over msgspec Structs, so a new numeric field is checked
without being listed here (only shares, the planner's periods, the USD rate, the safety margin and the transcript
writer's queue and file size, which have bounds beyond >= 0, are named).
"""

from __future__ import annotations

import math

import msgspec

_SHARES = frozenset({"error_rate", "sample_rate", "degraded_share"})  # fractions: at most 1
# 0 would re-plan without pause / plan no time / make every USD price and voucher worth nothing / drop every
# transcript (a queue of 0 holds none) / open a transcript file per batch: more than 0
_POSITIVE = frozenset({"replan_s", "horizon_days", "usd_cny", "queue_size", "max_bytes"})
# Under a second the planner re-plans back to back (a core spent solving); past a year the solve grows with every
# day planned (10,000 days: 15 s and 600 MB a re-plan, 10^7 never ends) and a grant past it is not waste anyway.
# Transcript files under 64 KiB: one file per batch or two, the directory fills with thousands of them.
_LEAST = {"replan_s": 1.0, "max_bytes": 65536.0}
_MOST = {"horizon_days": 366.0}


def check_numbers(value: object, where: str = "") -> str | None:
    """Every number in the config is finite and >= 0 (limits, prices, timeouts, budgets, rates: none has a
    meaning below 0, and NaN or infinity none at all); shares are at most 1, the USD rate above 0, the planner's
    re-plan period from 1 s, its horizon up to 366 days and its safety margin below 1, the transcript queue above 0
    and its files from 64 KiB. The first problem, with its
    path, or None."""
    if isinstance(value, msgspec.Struct):
        for f in msgspec.structs.fields(value):
            problem = check_numbers(getattr(value, f.name), f"{where}.{f.name}" if where else f.name)
            if problem:
                return problem
    elif isinstance(value, dict):
        return next(filter(None, (check_numbers(v, f"{where}.{k}") for k, v in value.items())), None)
    elif isinstance(value, list | tuple):
        return next(filter(None, (check_numbers(v, f"{where}[{i}]") for i, v in enumerate(value))), None)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return _number_problem(value, where)
    return None


def _number_problem(value: float, where: str) -> str | None:
    field = where.rsplit(".", 1)[-1]
    if not math.isfinite(value) or value < 0:
        return f"{where}: must be a finite number >= 0, not {value}"
    if field in _SHARES and value > 1:
        return f"{where}: a share, at most 1, not {value}"
    if field in _POSITIVE and value <= 0:
        return f"{where}: must be more than 0"
    if value < _LEAST.get(field, 0.0):
        return f"{where}: at least {_LEAST[field]:g}, not {value}"
    if value > _MOST.get(field, math.inf):
        return f"{where}: at most {_MOST[field]:g}, not {value}"
    if field == "safety_margin" and value >= 1:
        return f"{where}: a share of each grant's window, below 1, not {value}"
    return None
