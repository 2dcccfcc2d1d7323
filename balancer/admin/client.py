"""``balancer admin ...``: the admin API from a terminal. Every subcommand is one call to the same HTTP API the
dashboard uses (``--url``, the admin key from ``--admin-key`` or ``QIAO_ADMIN_KEY``); tables for people,
``--json`` for scripts. Exit 0 on success, 1 when the gateway refuses (its message printed), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8080"


class Refused(Exception):
    """The gateway answered an error (the message is its error.message)."""


def request(args: argparse.Namespace, method: str, path: str, body: Any = None, **query: Any) -> Any:
    key = args.admin_key or os.environ.get("QIAO_ADMIN_KEY", "")
    if not key:
        raise Refused("no admin key: pass --admin-key or set QIAO_ADMIN_KEY")
    params = {k: v for k, v in query.items() if v is not None}
    url = args.url.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - the operator's URL
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as r:  # noqa: S310
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            error = json.loads(e.read())["error"]
            raise Refused(f"{e.code} {error.get('code') or error.get('type')}: {error['message']}") from None
        except (ValueError, KeyError, TypeError):
            raise Refused(f"{e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise Refused(f"cannot reach {args.url}: {e.reason}") from None


def _table(rows: list[list[Any]], head: list[str]) -> str:
    cells = [head, *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def _providers(data: dict[str, Any]) -> str:
    rows = []
    for p in data["providers"]:
        q, lim = p["quota"], p["limits"]
        why = p["reason"] or ", ".join(f"{m['model']}: {m['reason']}" for m in p["models"] if not m["available"])
        bal = p["balance"] or {}
        rows.append([
            p["name"], p["vendor"], p["state"], why, f"{q['requests']}/{lim['rpm'] or '-'}",
            f"{q['tokens']}/{lim['tpm'] or '-'}", q["in_flight"], bal.get("total", bal.get("error", "")),
        ])  # fmt: skip
    return _table(rows, ["provider", "vendor", "state", "why", "req/rpm", "tok/tpm", "in flight", "balance"])


def _keys(data: dict[str, Any]) -> str:
    rows = []
    for k in data["keys"]:
        lim = k["limits"]
        rows.append([
            k["name"], k["source"], ",".join(k["routes"]), lim["rpm"] or "-", lim["tpm"] or "-",
            lim["concurrency"] or "-", f"{k['spent_today_cny']:.4f}/{k['daily_budget'] or '-'}",
            f"{k['spent_month_cny']:.4f}/{k['monthly_budget'] or '-'}", k["expires"] or "-",
        ])  # fmt: skip
    head = ["key", "source", "routes", "rpm", "tpm", "conc", "today/budget", "month/budget", "expires"]
    return _table(rows, head)


def _spend(data: dict[str, Any]) -> str:
    dims = data["by"]
    rows = [[r[d] for d in dims] + [r["requests"], r["tokens"], f"{r['cost_cny']:.4f}", f"{r['paid_cny']:.4f}"]
            for r in data["rows"]]  # fmt: skip
    t = data["total"]
    rows.append(["total"] + [""] * (len(dims) - 1) + [t["requests"], t["tokens"], f"{t['cost_cny']:.4f}",
                                                      f"{t['paid_cny']:.4f}"])  # fmt: skip
    return f"since {data['since']} (UTC)\n" + _table(rows, [*dims, "requests", "tokens", "cost ¥", "paid ¥"])


def _expiry(text: str) -> str:
    """A date (the key works through that UTC day, as in the config) or an RFC 3339 time (UTC if none given)."""
    try:
        day = dt.date.fromisoformat(text)
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC).isoformat()
    except ValueError:
        t = dt.datetime.fromisoformat(text)
        return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).isoformat()


def _key_fields(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limits = {k: getattr(args, k) for k in ("rpm", "tpm", "concurrency") if getattr(args, k) is not None}
    if limits:
        out["limits"] = limits
    if args.routes is not None:
        out["routes"] = args.routes.split(",")
    for name in ("daily_budget", "monthly_budget"):
        value = getattr(args, name)
        if value is not None:
            out[name] = None if value == "none" else float(value)
    if args.expires is not None:
        out["expires"] = None if args.expires == "none" else _expiry(args.expires)
    if args.transcripts:
        out["transcripts"] = True
    return out


def run(args: argparse.Namespace) -> tuple[Any, str | None]:
    """The answer, and its table (None: print JSON)."""
    a, what = args, args.what
    if what == "providers":
        data = request(a, "GET", "/admin/providers")
        return data, _providers(data)
    if what in ("drain", "undrain"):
        data = request(a, "POST", f"/admin/providers/{urllib.parse.quote(a.name)}/{what}", {})
        return data, f"{a.name}: {data['provider']['state']}"
    if what == "reset":
        body = {"breaker": not a.cooldown_only, "cooldown": not a.breaker_only}
        data = request(a, "POST", f"/admin/providers/{urllib.parse.quote(a.name)}/reset", body)
        return data, f"{a.name}: {data['provider']['state']} ({data['what']})"
    if what == "spend":
        data = request(a, "GET", "/admin/spend", by=a.by, days=a.days, key=a.key, route=a.route, provider=a.provider)
        return data, _spend(data)
    simple = {"status": "/admin/status", "plan": "/admin/plan", "grants": "/admin/grants"}
    if what in simple:
        return request(a, "GET", simple[what]), None
    if what == "failures":
        return request(a, "GET", "/admin/failures", limit=a.limit), None
    if what == "refresh-balances":
        return request(a, "POST", "/admin/balances/refresh", provider=a.provider), None
    return _run_keys(a)


def _run_keys(a: argparse.Namespace) -> tuple[Any, str | None]:
    path = "/admin/keys" + (f"/{urllib.parse.quote(a.name)}" if getattr(a, "name", None) else "")
    if a.action == "list":
        data = request(a, "GET", path)
        return data, _keys(data)
    if a.action == "show":
        return request(a, "GET", path), None
    if a.action == "create":
        data = request(a, "POST", "/admin/keys", {"name": a.name, **_key_fields(a)})
        note = f"client key '{data['name']}' created. Its secret, shown this once (store it now):\n{data['secret']}"
        return data, note
    if a.action == "update":
        return request(a, "PATCH", path, _key_fields(a)), None
    data = request(a, "DELETE", path)
    return data, f"client key '{a.name}' revoked (every instance refuses it within ~2 s)"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("admin", help="operate a running gateway through its admin API")
    p.add_argument("--url", default=os.environ.get("QIAO_URL", DEFAULT_URL), help=f"gateway URL ({DEFAULT_URL})")
    p.add_argument("--admin-key", help="an admin key (default: $QIAO_ADMIN_KEY)")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(fn=main)
    cmds = p.add_subparsers(dest="what", required=True)
    cmds.add_parser("providers", help="each provider's state, quota and balance")
    for name, text in (("status", "the whole snapshot"), ("plan", "re-plan now"), ("grants", "grant burn-down")):
        cmds.add_parser(name, help=text + " (JSON)")
    for name in ("drain", "undrain"):
        cmds.add_parser(name, help=f"{name} a provider on every instance").add_argument("name")
    s = cmds.add_parser("reset", help="close a provider's breakers and end its cooldowns (not a drain)")
    s.add_argument("name")
    only = s.add_mutually_exclusive_group()
    only.add_argument("--breaker-only", action="store_true")
    only.add_argument("--cooldown-only", action="store_true")
    cmds.add_parser("refresh-balances", help="poll vendor balances now").add_argument("--provider")
    s = cmds.add_parser("spend", help="spend by client key / route / provider / day")
    s.add_argument("--by", default="day,key", help="comma-separated: day, key, route, provider")
    s.add_argument("--days", type=int, default=30)
    for f in ("key", "route", "provider"):
        s.add_argument(f"--{f}")
    cmds.add_parser("failures", help="recent failed requests (JSON)").add_argument("--limit", type=int, default=20)
    _keys_parser(cmds.add_parser("keys", help="client keys: list, show, create, update, revoke"))


def _keys_parser(p: Any) -> None:
    acts = p.add_subparsers(dest="action", required=True)
    acts.add_parser("list")
    acts.add_parser("show").add_argument("name")
    acts.add_parser("revoke").add_argument("name")
    for name in ("create", "update"):
        s = acts.add_parser(name)
        s.add_argument("name")
        s.add_argument("--routes", help="comma-separated routes (default for create: all)")
        for lim in ("rpm", "tpm", "concurrency"):
            s.add_argument(f"--{lim}", type=int)
        s.add_argument("--daily-budget", metavar="CNY", help="CNY per UTC day ('none' removes it)")
        s.add_argument("--monthly-budget", metavar="CNY", help="CNY per UTC month ('none' removes it)")
        s.add_argument("--expires", help="a date (works through that UTC day) or an RFC 3339 time; 'none' removes it")
        s.add_argument("--transcripts", action="store_true", help="capture this key's conversations")


def main(args: argparse.Namespace) -> int:
    try:
        data, text = run(args)
    except Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(data, ensure_ascii=False, indent=2) if args.json or text is None else text)
    except BrokenPipeError:  # piped into head: fine
        sys.stderr.close()
    return 0
