"""What each strategy would have paid on replayed traffic, beside the offline optimum: ``balancer plan --replay``.

:func:`compare` runs the simulation (:func:`balancer.sim.simulate`) once per strategy and the bound
(:func:`balancer.credit.bound.solve`) once, on the :class:`~balancer.credit.replay.Traffic` read from the
gateway's logs, and returns one JSON document; :func:`render` prints it as tables. The grants are the
config's, as configured: a grant whose window does not overlap the replayed hours is flagged (it can burn
nothing there, so every strategy and the optimum agree on it). A strategy's cost is what it paid plus its
unserved tokens at the route's ``unserved_price`` (and where they fell: ``unserved_by_route``); ``x_optimum`` is
that cost over the optimum's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from balancer.config import Config
from balancer.credit.pricing import DAY, MICRO, Grant, resolve_grants
from balancer.credit.replay import HOUR, MAX_LINE, Traffic
from balancer.credit.trace import Trace


class Outcome(Protocol):
    """What :class:`sim.SimResult` and :class:`bound.Optimum` have in common (the report reads only this)."""

    paid_cny: float
    unserved_tokens: float
    unserved_cny: float
    unserved_by_route: dict[str, float]
    burned: dict[str, float]


Simulate = Callable[..., Awaitable[Any]]  # simulate(cfg, trace, strategy, *, requests_per_hour=...) -> SimResult
Solve = Callable[[Config, Trace], Any]  # solve(cfg, trace) -> Optimum


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def _day(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).date().isoformat()


def grants_of(cfg: Config) -> list[Grant]:
    return [g for name, p in sorted(cfg.providers.items()) for g in resolve_grants(name, p.account, cfg.money)]


def span(traffic: Traffic) -> dict[str, Any]:
    """The replayed hours and what was served in them, per route."""
    t = traffic.trace
    return {
        "first_hour": _iso(t.start),
        "last_hour": _iso(t.start + (t.hours - 1) * HOUR),
        "hours": t.hours,
        "requests": sum(r.requests for r in traffic.routes.values()),
        "tokens": sum(r.tokens for r in traffic.routes.values()),
        "routes": {
            name: {"requests": r.requests, "tokens": r.tokens, "prompt": r.prompt, "completion": r.completion}
            for name, r in traffic.routes.items()
        },
        "skipped_routes": {
            name: {"requests": r.requests, "tokens": r.tokens} for name, r in traffic.unknown_routes.items()
        },
        "refused_or_failed": traffic.refused,
        "undated": traffic.undated,
        "outside_window": traffic.outside,
        "overlong_lines": traffic.overlong,
        "unreadable_lines": traffic.unreadable,
        "malformed_lines": traffic.malformed,
        "warnings": traffic.warnings,
    }


def _grant(g: Grant, trace: Trace) -> dict[str, Any]:
    end = trace.start + trace.hours * HOUR
    return {
        "grant": g.key,
        "unit": g.unit,
        "size": _units(g, g.size),
        "starts": _day(g.starts) if g.starts else None,
        "expires": _day(g.expires - DAY) if g.expires != float("inf") else None,  # its last day, as configured
        "overlaps_replay": g.starts < end and g.expires > trace.start,
    }


def _units(g: Grant, value: float) -> float:
    """Tokens, or CNY for a money grant (the simulation counts µ¥)."""
    return round(value / MICRO, 2) if g.unit == "money" else round(value)


def _outcome(o: Outcome, grants: Sequence[Grant], trace: Trace, optimum_cost: float | None) -> dict[str, Any]:
    cost = o.paid_cny + o.unserved_cny
    out: dict[str, Any] = {
        "paid_cny": round(o.paid_cny, 4),
        "unserved_tokens": round(o.unserved_tokens),
        "unserved_cny": round(o.unserved_cny, 4),
        "unserved_by_route": {r: round(v) for r, v in sorted(o.unserved_by_route.items()) if round(v) > 0},
        "cost_cny": round(cost, 4),
        "burned": {g.key: _units(g, o.burned.get(g.key, 0)) for g in grants},
        "wasted": {g.key: _units(g, w) for g, w in zip(grants, _wasted(o, grants, trace), strict=True)},
    }
    if optimum_cost is not None:
        out["x_optimum"] = _ratio(cost, optimum_cost)
    return out


def _wasted(o: Outcome, grants: Sequence[Grant], trace: Trace) -> list[float]:
    """Units left at expiry, for grants that expire by the end of the replay (the simulation's own count; for
    the optimum, which reports only its burn, the grant's size less that)."""
    wasted: dict[str, float] | None = getattr(o, "wasted", None)
    if wasted is not None:
        return [wasted.get(g.key, 0) for g in grants]
    end = trace.start + trace.hours * HOUR
    return [max(0.0, g.size - o.burned.get(g.key, 0)) if g.expires <= end else 0.0 for g in grants]


def _ratio(cost: float, best: float) -> float | None:
    if best > 1e-9:
        return round(cost / best, 3)
    return 1.0 if cost <= 1e-9 else None  # None: the optimum costs nothing and this does


async def compare(
    cfg: Config,
    traffic: Traffic,
    strategies: Sequence[str],
    simulate: Simulate,
    solve: Solve,
    requests_per_hour: int = 40,
) -> dict[str, Any]:
    """The replay document: the span, the grants, each strategy's outcome and the optimum's."""
    trace, grants = traffic.trace, grants_of(cfg)
    best = solve(cfg, trace)
    best_cost = best.paid_cny + best.unserved_cny
    results = {}
    for name in strategies:
        r = await simulate(cfg, trace, name, requests_per_hour=requests_per_hour)
        results[name] = {**_outcome(r, grants, trace, best_cost), "seconds": round(r.seconds, 3), "replans": r.replans}
    return {
        "replay": span(traffic),
        "grants": [_grant(g, trace) for g in grants],
        "strategies": results,
        "optimum": {**_outcome(best, grants, trace, None), "status": best.status, "debit_order": best.debit_order},
    }


def render(doc: dict[str, Any]) -> str:
    """The document as text: the span, the grants, one row per strategy, then the optimum."""
    return "\n".join([*_span_lines(doc["replay"]), "", *_grant_lines(doc["grants"]), "", *_table(doc)])


def _span_lines(s: dict[str, Any]) -> list[str]:
    lines = [
        f"replayed {s['first_hour']} .. {s['last_hour']} ({s['hours']} hour(s)): "
        f"{s['requests']:,} served request(s), {s['tokens']:,} tokens"
    ]
    for name, r in s["routes"].items():
        share = r["prompt"] / r["tokens"] if r["tokens"] else 0.0
        lines.append(f"  {name}: {r['requests']:,} request(s), {r['tokens']:,} tokens ({share:.0%} input)")
    for name, r in s["skipped_routes"].items():
        lines.append(
            f"  skipped: route {name!r} is not in the config ({r['requests']:,} request(s), {r['tokens']:,} tokens)"
        )
    refused = sum(s["refused_or_failed"].values())
    if refused:
        lines.append(f"  not counted: {refused:,} refused or failed request(s) (their lines carry no tokens)")
    if s["undated"]:
        lines.append(f"  not counted: {s['undated']:,} served line(s) with no readable timestamp (years 2000-2099)")
    if s["outside_window"]:
        lines.append(f"  not counted: {s['outside_window']:,} served line(s) outside --since/--until")
    if s["overlong_lines"]:
        lines.append(f"  skipped: {s['overlong_lines']:,} line(s) over {MAX_LINE >> 20} MiB (not a request_done line)")
    if s["unreadable_lines"]:
        lines.append(f"  not counted: {s['unreadable_lines']:,} line(s) naming request_done that are not JSON objects")
    if s["malformed_lines"]:
        bad = s["malformed_lines"]
        lines.append(f"  not counted: {bad:,} request_done line(s) with a route, status or tokens of the wrong type")
    lines.extend(f"  warning: {w}" for w in s["warnings"])
    return lines


def _grant_lines(grants: list[dict[str, Any]]) -> list[str]:
    if not grants:
        return ["grants: none in the config (every strategy pays list price)"]
    lines = ["grants (as configured):"]
    for g in grants:
        size = f"{_tokens(g['size'])} tokens" if g["unit"] == "tokens" else f"¥{g['size']:.2f}"
        window = f"{g['starts'] or '-'} .. {g['expires'] or 'never'}"
        note = "" if g["overlaps_replay"] else "  (window does not overlap the replayed hours: left out below)"
        lines.append(f"  {g['grant']}: {size}, {window}{note}")
    return lines


def _tokens(v: float) -> str:
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v:,.0f}"


def _amounts(values: dict[str, float], grants: list[dict[str, Any]]) -> str:
    """The amounts of the grants in play (one outside the replayed hours would show the same for all)."""
    unit = {g["grant"]: g["unit"] for g in grants if g["overlaps_replay"]}
    parts = [
        f"{k} {_tokens(v)} tokens" if unit[k] == "tokens" else f"{k} ¥{v:.2f}"
        for k, v in values.items()
        if v and k in unit
    ]
    return ", ".join(parts) or "-"


def _table(doc: dict[str, Any]) -> list[str]:
    best = doc["optimum"]["cost_cny"]
    head = f"{'strategy':14} {'paid ¥':>11} {'unserved tok':>13} {'unserved ¥':>11} {'cost ¥':>11} {'× optimum':>9}"
    head += f" {'over ¥':>10}"
    lines = [head]
    rows = [*doc["strategies"].items(), ("optimum", doc["optimum"])]
    for name, r in rows:
        x = r.get("x_optimum", 1.0 if name == "optimum" else None)
        ratio = f"{x:.3f}" if x is not None else "inf"
        lines.append(
            f"{name:14} {r['paid_cny']:>11.4f} {r['unserved_tokens']:>13,} {r['unserved_cny']:>11.4f} "
            f"{r['cost_cny']:>11.4f} {ratio:>9} {r['cost_cny'] - best:>+10.4f}"
        )
    lines.append("")
    for name, r in rows:
        burned, wasted = _amounts(r["burned"], doc["grants"]), _amounts(r["wasted"], doc["grants"])
        lines.append(f"{name}: burned: {burned}; wasted at expiry: {wasted}")
        if r["unserved_by_route"]:
            where = ", ".join(f"{route} {_tokens(v)}" for route, v in r["unserved_by_route"].items())
            lines.append(f"{name}: unserved tokens by route: {where}")
    if doc["optimum"].get("status"):
        lines.append(f"optimum: solver status {doc['optimum']['status']}")
    if doc["optimum"].get("debit_order") is False:
        lines.append("optimum: the vendor's debit order not kept (its MIP ran out of time): a looser bound")
    return lines
