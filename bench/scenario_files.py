"""Reading a scenario's files: the YAML (with ``extends``) and the demand series a route may name, each failing as
a :class:`ScenarioError` that names the file and, where it can, the line (:mod:`bench.scenario` builds on them).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from balancer.credit.pricing import day_start


class ScenarioError(ValueError):
    """A scenario (or the demand series it names) that cannot be used, with the file and line when known."""


def raw(p: Path, depth: int = 0) -> dict[str, Any]:
    """The scenario file's mapping, merged over the one its ``extends`` names (up to 8 deep), each route's
    ``series`` resolved against the file that names it."""
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ScenarioError(f"{p}: cannot read: {e.strerror}") from None
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise ScenarioError(f"{p}: not a YAML scenario: {e}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{p}: not a YAML mapping (a scenario has name, providers, routes...)")
    parent = data.pop("extends", None)
    for r in (data.get("routes") or {}).values():
        if isinstance(r, dict) and isinstance(r.get("series"), str):
            r["series"] = str(p.parent / r["series"])
    if parent and depth < 8:
        data = _merge(raw(p.parent / parent, depth + 1), data)
    return data  # type: ignore[no-any-return]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of a CSV (header line 1) or JSONL file."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is not part of the header
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {e.start}: {e.object[e.start : e.start + 1]!r})") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ScenarioError(f"{path} line {n}: not JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise ScenarioError(f"{path} line {n}: expected an object with hour|time, route, tokens")
            yield n, row
        return
    reader = csv.DictReader(text.splitlines())
    cols = set(reader.fieldnames or ())
    if not ({"route", "tokens"} <= cols and ("hour" in cols) != ("time" in cols)):
        raise ScenarioError(
            f"{path} line 1: the header must be hour,route,tokens or time,route,tokens, not {reader.fieldnames}"
        )
    for n, row in enumerate(reader, 2):
        yield n, row


def _hour(path: Path, n: int, row: dict[str, Any], t0: float) -> int:
    if "hour" in row and row["hour"] not in (None, ""):
        try:
            h = float(row["hour"])
        except (TypeError, ValueError):
            raise ScenarioError(f"{path} line {n}: hour {row['hour']!r} is not a number") from None
        if not math.isfinite(h) or h != int(h):
            raise ScenarioError(f"{path} line {n}: hour {row['hour']!r} is not a whole hour index")
        return int(h)
    if row.get("time") in (None, ""):
        raise ScenarioError(f"{path} line {n}: no hour or time")
    if not isinstance(row["time"], str):
        raise ScenarioError(f"{path} line {n}: time {row['time']!r} is not an ISO-8601 string")
    try:
        t = dt.datetime.fromisoformat(row["time"])
    except ValueError:
        raise ScenarioError(f"{path} line {n}: time {row['time']!r} is not ISO-8601") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    secs = t.timestamp() - t0
    if secs % 3600:
        raise ScenarioError(f"{path} line {n}: time {row['time']} is not on an hour boundary (UTC)")
    return int(secs // 3600)


def load_series(path: str | Path, routes: Collection[str], start: dt.date, hours: int) -> dict[str, np.ndarray]:
    """Tokens per hour of each route in ``routes`` from a CSV (``hour,route,tokens`` or ``time,route,tokens``
    header) or JSONL (``{"hour"|"time", "route", "tokens"}`` per line) file, hour 0 at ``start`` UTC midnight.

    Every route the file names must be in ``routes``; each must have every hour in ``[0, hours)`` exactly once
    (hours after that are ignored; a series shorter than the scenario is an error). Raises :class:`ScenarioError`
    naming the file and line."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"{p}: demand series file not found")
    t0 = day_start(start)
    out = {r: np.full(hours, np.nan) for r in routes}
    for n, row in _rows(p):
        route = row.get("route")
        if not isinstance(route, str) or route not in routes:
            raise ScenarioError(f"{p} line {n}: route {route!r} is not one of this file's routes {sorted(routes)}")
        try:
            tokens = float(row.get("tokens"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ScenarioError(f"{p} line {n}: tokens {row.get('tokens')!r} is not a number") from None
        if not math.isfinite(tokens) or tokens < 0:
            raise ScenarioError(f"{p} line {n}: tokens {row.get('tokens')!r} must be a finite number ≥ 0")
        h = _hour(p, n, row, t0)
        if h < 0:
            raise ScenarioError(f"{p} line {n}: hour {h} is before the scenario's start {start}")
        if h >= hours:
            continue
        if not np.isnan(out[route][h]):
            raise ScenarioError(f"{p} line {n}: route {route} hour {h} appears twice")
        out[route][h] = tokens
    for r, a in out.items():
        missing = np.flatnonzero(np.isnan(a))
        if missing.size:
            have = hours - missing.size
            raise ScenarioError(
                f"{p}: route {r} has {have} of the scenario's {hours} hours ({hours // 24} days): "
                f"the series is shorter than the scenario or has gaps (first missing hour {missing[0]})"
            )
    return out
