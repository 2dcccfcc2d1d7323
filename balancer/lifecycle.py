"""How ``balancer serve`` meets its supervisor: signals (SIGHUP reloads, SIGTERM/SIGINT drain) and systemd's
readiness protocol (``Type=notify``, deploy/systemd/qiao.service): ``READY=1`` once the gateway listens with its
signals handled, ``STOPPING=1`` when the drain starts. Without ``NOTIFY_SOCKET`` (not under systemd, or a worker
of ``--workers``) nothing is sent.

Until systemd is told ``READY=1`` the unit is still starting and ``systemctl reload`` waits for it; a SIGHUP sent
by anyone else while the gateway starts (Redis, the balance polls: seconds) is kept and acted on once serving,
instead of killing the process by default (a death by SIGHUP is one systemd's Restart=on-failure leaves be)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import structlog
from aiohttp import web

from balancer import config as config_mod
from balancer import logs
from balancer.app import GATEWAY

log = structlog.get_logger("balancer.lifecycle")

_early_hup: list[int] = []  # SIGHUPs that came before the event loop handled them
_early_term: list[int] = []  # SIGTERMs likewise (as process 1 in a container, an unhandled one is ignored)


def notify(state: str) -> None:
    """Send one notification to ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace)."""
    where = os.environ.get("NOTIFY_SOCKET")
    if not where:
        return
    address = "\0" + where[1:] if where.startswith("@") else where
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(address)
            s.sendall(state.encode())
    except OSError as e:
        log.warning("sd_notify_failed", socket=where, error=str(e))


def catch_early_hup() -> None:
    """From the first moment of ``serve``: keep a SIGHUP for :func:`handle_signals` rather than die of it, and a
    SIGTERM too (process 1 in a container ignores one it does not handle, so `docker stop` would wait for its
    SIGKILL): the gateway then drains as soon as it serves, which with nothing in flight is at once."""
    signal.signal(signal.SIGHUP, lambda *_: _early_hup.append(1))
    signal.signal(signal.SIGTERM, lambda *_: _early_term.append(1))


def stop_pending() -> bool:
    """Whether a SIGTERM came while starting (logged, and forgotten once asked): the caller stops now."""
    if not _early_term:
        return False
    _early_term.clear()
    log.info("stop_deferred", why="SIGTERM received while starting")
    return True


def handle_signals(app: web.Application, config_path: str | None, stop: asyncio.Event) -> None:
    """SIGHUP reloads the config file (one that came while starting is acted on now); SIGTERM/SIGINT set
    ``stop`` (the drain). Also starts the periodic log flush."""
    loop = asyncio.get_running_loop()

    def reload() -> None:
        if config_path is None:
            return
        try:
            new = config_mod.load(config_path)
        except config_mod.ConfigError as e:
            log.error("config_reload_failed", error=str(e))
            return
        task = loop.create_task(app[GATEWAY].reload(new))
        task.add_done_callback(lambda t: t.exception() and log.error("config_reload_failed", error=str(t.exception())))

    def flush_logs() -> None:
        logs.flush()
        loop.call_later(0.2, flush_logs)

    loop.add_signal_handler(signal.SIGHUP, reload)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if _early_hup:
        _early_hup.clear()
        log.info("config_reload_deferred", why="SIGHUP received while starting")
        reload()
    if stop_pending():
        stop.set()
    flush_logs()
