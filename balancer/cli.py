"""``balancer``: serve | check | plan | emulate | demo | vendors | hash-key."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import sys
from collections.abc import Sequence
from importlib import resources

import structlog
from aiohttp import web

from balancer import checks, emulator, lifecycle, logs, router, workers
from balancer import config as config_mod
from balancer.admin import client as admin_client
from balancer.app import GATEWAY, make_app, make_runner
from balancer.credit import planner, replay, replay_report, report
from balancer.credit.ledger import MemoryLedger, books_from_config
from balancer.gateway import StartupError
from balancer.routes import compile_routes

log = structlog.get_logger("balancer.cli")

DEMO_KEY = "sk-qiao-demo"
DEMO_ADMIN_KEY = "sk-qiao-admin-demo"  # the demo's published admin key (demo.yaml holds its hash)


def _loop_policy() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        pass


def _tune_gc() -> None:
    """Everything alive after start-up lives for the whole process: move it out of the collector's
    sight (``gc.freeze``) and collect the young generation less often. Measured with wrk: the default
    thresholds cost ~20 µs of CPU per request in collector passes over long-lived objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


async def _listen(site: web.TCPSite, runner: web.AppRunner, where: str) -> None:
    """Start ``site``; a port it cannot take (in use, not allowed) is a StartupError naming ``where``, not a
    traceback."""
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise StartupError(f"cannot listen on {where}: {e.strerror}") from None


async def _serve(cfg: config_mod.Config, config_path: str | None, port: int | None, worker: bool = False) -> None:
    app = make_app(cfg)
    runner = make_runner(app)
    await runner.setup()
    host, port = cfg.server.host, port or cfg.server.port
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True, reuse_port=worker or None)
    await _listen(site, runner, f"{host}:{port}")
    _tune_gc()
    stop = asyncio.Event()
    lifecycle.handle_signals(app, config_path, stop)
    # Listening is announced once the signals are handled: a SIGTERM sent on seeing it drains, not kills.
    log.info("gateway_listening", host=host, port=port, routes=sorted(cfg.routes), worker=worker)
    logs.flush()
    lifecycle.notify("READY=1")
    await stop.wait()
    drain_s = app[GATEWAY].cfg.server.drain_s
    log.info("gateway_draining", grace_s=drain_s)
    lifecycle.notify("STOPPING=1")
    app[GATEWAY].begin_drain()
    try:  # bounded: a stuck cleanup must never keep a terminated gateway alive
        async with asyncio.timeout(drain_s + 15):
            await runner.cleanup()
    except TimeoutError:
        log.error("gateway_shutdown_timeout", grace_s=drain_s, stuck=_stuck_tasks())
        logs.flush()
        os._exit(1)
    log.info("gateway_stopped")
    logs.flush()


def _stuck_tasks() -> list[str]:
    """Where each task still running is waiting (for the log line of a shutdown that timed out)."""
    stuck = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task():
            continue
        frames = task.get_stack()
        where = f"{frames[-1].f_code.co_filename}:{frames[-1].f_lineno}" if frames else "?"
        stuck.append(f"{getattr(task.get_coro(), '__qualname__', task.get_name())} at {where}")
    return stuck


async def _emulate(host: str, port: int, chunk_delay_ms: float) -> web.AppRunner:
    app = emulator.make_app(emulator.Emulator(chunk_delay_ms=chunk_delay_ms))
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    await _listen(web.TCPSite(runner, host, port, reuse_address=True), runner, f"{host}:{port} for the emulator")
    return runner


def cmd_serve(args: argparse.Namespace) -> int:
    lifecycle.catch_early_hup()
    cfg = _load(args.config)
    if args.workers > 1:  # the supervisor: its workers check and serve the config themselves
        logs.configure(cfg.logging.level, cfg.logging.format)
        workers.check(cfg, args.workers)
        return workers.Supervisor(args.config, args.workers, args.port).run()
    logs.configure(cfg.logging.level, cfg.logging.format, buffered=True)
    if not args.worker:  # one worker of several: the supervisor's first worker would repeat them
        for w in checks.warnings(cfg):  # the errors make the gateway refuse to start (gateway.check_startable)
            log.warning("config_warning", path=w.path, problem=w.message)
    _loop_policy()
    asyncio.run(_serve(cfg, args.config, args.port, worker=args.worker))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Errors (serve would refuse: exit 2) and warnings (exit 0, or 2 with --strict), each with its config path;
    then the routes. ``--offline``: no secret is read, and the ones serve will need are listed."""
    parsed = config_mod.read(args.config, offline=args.offline)
    cfg = parsed.cfg
    found = [*checks.errors(cfg, offline=args.offline, pending=parsed.pending), *checks.warnings(cfg)]
    for f in found:
        print(f"{f.level}: {args.config}: {f}", file=sys.stderr)
    n_errors = sum(f.level == "error" for f in found)
    n_warnings = len(found) - n_errors
    if not n_errors:
        _print_routes(cfg)
    if args.offline:
        _print_needs(cfg, parsed)
    counts = f"{n_errors} error(s), {n_warnings} warning(s)"
    if n_errors:
        print(f"{args.config}: {counts}: balancer serve would refuse this config", file=sys.stderr)
        return 2
    if n_warnings and args.strict:
        print(f"{args.config}: {counts}: --strict fails the check on warnings", file=sys.stderr)
        return 2
    auth = f"{len(cfg.client_keys)} client key(s)" if cfg.client_keys else "NO client keys (insecure_no_auth)"
    offline = ", offline: no secret read" if args.offline else ""
    print(
        f"ok: {len(cfg.providers)} provider(s), {len(cfg.routes)} route(s), {auth}, state={cfg.state.backend}, "
        f"{n_warnings} warning(s){offline}"
    )
    return 0


def _print_routes(cfg: config_mod.Config) -> None:
    for name, route in compile_routes(cfg, router.STRATEGIES).items():
        print(f"{name}  [{route.kind}, strategy={route.strategy}, attempts={route.failover.max_attempts}]")
        for c in route.choices:
            window = f"{c.context_window:,}" if c.context_window else "?"
            print(f"  {c.index + 1}. {c.provider_name} ({c.vendor.name}) -> {c.model}  context={window}")


def _print_needs(cfg: config_mod.Config, parsed: config_mod.Parsed) -> None:
    needed = checks.needs(cfg, parsed.references)
    if not needed:
        print("offline: the config reads no environment variable or secret file")
        return
    print("offline: not read; serve will need:")
    for what, where in needed:
        print(f"  {what}  ({where})")


def cmd_emulate(args: argparse.Namespace) -> int:
    logs.configure("info", "auto")
    _loop_policy()

    async def main() -> None:
        await _emulate(args.host, args.port, args.chunk_delay_ms)
        print(f"emulator on http://{args.host}:{args.port}/<vendor>/...  control: /_emulator/", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    emu_url = f"http://127.0.0.1:{args.port + 1}"
    os.environ["QIAO_EMULATOR_URL"] = emu_url
    text = resources.files("balancer").joinpath("demo.yaml").read_text(encoding="utf-8")
    import yaml

    cfg = config_mod.parse(yaml.safe_load(text), "demo.yaml")
    logs.configure("info", "auto")
    _loop_policy()

    async def main() -> None:
        await _emulate("127.0.0.1", args.port + 1, 20.0)
        print(
            f"""
Qiao demo: gateway  http://127.0.0.1:{args.port}/v1   (OpenAI base_url)
           client key  {DEMO_KEY}
           dashboard   http://127.0.0.1:{args.port}/admin/   (admin key {DEMO_ADMIN_KEY})
           admin key   {DEMO_ADMIN_KEY}   (QIAO_ADMIN_KEY={DEMO_ADMIN_KEY} balancer admin providers)
           routes      {", ".join(sorted(cfg.routes))}
           emulator    {emu_url}/_emulator/  (faults: POST {emu_url}/_emulator/faults)

  curl http://127.0.0.1:{args.port}/v1/chat/completions -H 'Authorization: Bearer {DEMO_KEY}' \\
       -H 'Content-Type: application/json' \\
       -d '{{"model": "gpt-4o", "messages": [{{"role": "user", "content": "你好"}}]}}'
  curl -X POST {emu_url}/_emulator/faults -d '{{"target": "deepseek", "fault": "rate_limit"}}'
""",
            flush=True,
        )
        await _serve(cfg, None, args.port)

    asyncio.run(main())
    return 0


def cmd_vendors(args: argparse.Namespace) -> int:
    from balancer.vendors import REGISTRY

    for v in sorted(REGISTRY.values(), key=lambda v: v.name):
        balance = f"GET {v.balance.path} (granted/paid)" if v.balance else "none"
        print(f"{v.name}: {v.title}\n  auth: {v.auth_scheme}\n  balance: {balance}\n  models:")
        for name, m in v.models.items():
            flags = (
                ("tools", m.tools),
                ("json", m.json_mode),
                ("no json_schema", m.json_schema is False),
                ("vision", m.vision),
                ("text only", m.vision is False),
            )
            caps = [c for c, on in flags if on]
            price = f"{m.input_price:g}/{m.output_price:g} {m.currency}/M" if m.price_known else "price unknown"
            out = f"{m.max_output:,}" if m.max_output else "-"
            kind = ", ".join(caps) if m.kind == "chat" else "embeddings"
            print(f"    {name:32} ctx {m.context_window:>10,}  out {out:>7}  {price:18} {kind}")
    return 0


MAX_RATE = 1e12  # tokens/hour --rate accepts: past it a typo, not traffic (and 1e400 is inf)


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the credit-burn plan for a config: from the ledger (memory: empty) and an assumed traffic rate."""
    import json
    import time

    cfg = _load(args.config)
    if args.replay:
        return _plan_replay(cfg, args)
    rates = {}
    for item in args.rate or []:
        route, _, value = item.partition("=")
        rate = float(value) if value.replace(".", "", 1).isdigit() else -1.0
        if route not in cfg.routes or not 0 <= rate <= MAX_RATE:
            print(
                f"error: --rate {item!r}: expected ROUTE=TOKENS_PER_HOUR with a route of the config and a rate "
                f"from 0 to {MAX_RATE:.0e}",
                file=sys.stderr,
            )
            return 2
        rates[route] = rate
    books = books_from_config(cfg)
    compile_routes(cfg, router.STRATEGIES)  # the routes must compile, as the gateway would
    plan, snap = asyncio.run(planner.replan(cfg, books, MemoryLedger(books), time.time(), rates))
    print(json.dumps(report.report(plan, snap), ensure_ascii=False, indent=2))
    return 0


def _plan_replay(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    """``plan --replay``: each strategy and the offline optimum on the demand the gateway's logs show."""
    import json

    simulate, solve, known = _simulator()
    strategies = [s for item in args.strategies or [] for s in item.split(",") if s] or list(known)
    unknown = [s for s in strategies if s not in known]
    if unknown:
        print(f"error: --strategies: unknown {', '.join(unknown)} (known: {', '.join(known)})", file=sys.stderr)
        return 2
    if args.requests_per_hour < 1:
        print("error: --requests-per-hour must be at least 1", file=sys.stderr)
        return 2
    compile_routes(cfg, router.STRATEGIES)  # the routes must compile, as the gateway would
    try:
        since, until = _instant(args.since, "--since"), _instant(args.until, "--until")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        traffic = replay.scan(args.replay, cfg.routes, since, until, warn=_replay_warning)
    except replay.ReplayError as e:
        print(f"error: --replay: {e}", file=sys.stderr)
        return 2
    for name in traffic.unknown_routes:
        print(f"warning: route {name!r} is in the logs but not in {args.config}: skipped", file=sys.stderr)
    doc = asyncio.run(
        replay_report.compare(cfg, traffic, strategies, simulate, solve, requests_per_hour=args.requests_per_hour)
    )
    print(json.dumps(doc, ensure_ascii=False, indent=2) if args.json else replay_report.render(doc))
    return 0


def _replay_warning(message: str) -> None:
    print(f"warning: --replay: {message}", file=sys.stderr)


def _instant(value: str | None, flag: str) -> float | None:
    """Epoch seconds of an ISO 8601 date or time (UTC unless it says otherwise); None when not given."""
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{flag} {value!r}: expected an ISO 8601 date or time, e.g. 2026-03-01") from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()


def _simulator() -> tuple[replay_report.Simulate, replay_report.Solve, Sequence[str]]:
    """The credit simulation, the offline bound and the simulation's strategies (imported on use: the solver)."""
    from balancer import sim
    from balancer.credit import bound

    return sim.simulate, bound.solve, sim.STRATEGIES


def cmd_hash_key(args: argparse.Namespace) -> int:
    print(config_mod.hash_key(args.key))
    return 0


def _load(path: str) -> config_mod.Config:
    cfg = config_mod.load(path)
    return cfg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="balancer", description="Qiao OpenAI-compatible failover gateway")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the gateway")
    s.add_argument("--config", required=True)
    s.add_argument("--port", type=int)
    s.add_argument("--workers", type=int, default=1, help="processes on the port (SO_REUSEPORT; needs Redis state)")
    s.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # set by the supervisor for its children
    s.set_defaults(fn=cmd_serve)
    s = sub.add_parser("check", help="find what serve would refuse (errors) or likely get wrong (warnings)")
    s.add_argument("--config", required=True)
    s.add_argument("--offline", action="store_true", help="read no secret (${VAR}, file:); list what serve will need")
    s.add_argument("--strict", action="store_true", help="warnings fail the check too (exit 2)")
    s.set_defaults(fn=cmd_check)
    s = sub.add_parser("emulate", help="run the vendor emulator")
    s.add_argument("--port", type=int, default=8081)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--chunk-delay-ms", type=float, default=0.0)
    s.set_defaults(fn=cmd_emulate)
    s = sub.add_parser("demo", help="emulator + gateway with a bundled config")
    s.add_argument("--port", type=int, default=8080)
    s.set_defaults(fn=cmd_demo)
    s = sub.add_parser("plan", help="print the credit-burn plan as JSON, or (--replay) each strategy on logged traffic")
    s.add_argument("--config", required=True)
    s.add_argument("--rate", action="append", metavar="ROUTE=TOKENS_PER_HOUR", help="assumed traffic (repeatable)")
    s.add_argument("--replay", nargs="+", metavar="FILE", help="replay the gateway's request_done logs (plain or .gz)")
    s.add_argument("--strategies", nargs="+", metavar="NAME", help="with --replay: the strategies to compare (all)")
    s.add_argument("--requests-per-hour", type=int, default=40, help="with --replay: simulated requests per hour")
    s.add_argument("--json", action="store_true", help="with --replay: one JSON document instead of tables")
    s.add_argument("--since", metavar="WHEN", help="with --replay: from this UTC date or time on (ISO 8601)")
    s.add_argument("--until", metavar="WHEN", help="with --replay: before this UTC date or time (ISO 8601)")
    s.set_defaults(fn=cmd_plan)
    sub.add_parser("vendors", help="list vendors").set_defaults(fn=cmd_vendors)
    s = sub.add_parser("hash-key", help="print the sha256 to put in client_keys (or admin_keys)")
    s.add_argument("key")
    s.set_defaults(fn=cmd_hash_key)
    admin_client.add_parser(sub)  # balancer admin ...: the admin API from a terminal
    args = p.parse_args(argv)
    try:
        return int(args.fn(args))
    except (config_mod.ConfigError, StartupError, workers.WorkersError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
