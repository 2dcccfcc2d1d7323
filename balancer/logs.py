"""structlog set-up: JSON lines in production, a readable console on a TTY.

Secrets never reach a log line: a processor drops any field whose name looks like a credential, and
config values holding keys are :class:`balancer.secrets.Secret`, which never print their value.

In JSON mode the log is JSON only: stdlib ``logging`` records (``aiohttp.server``, ``aiohttp.access``,
``asyncio``, ``py.warnings``) go through the same renderer to the same sink, a traceback as a field.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import select
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

_SECRET_FIELDS = frozenset({"authorization", "api_key", "api-key", "key", "password", "token", "secret"})
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for name in [k for k in event if k.lower() in _SECRET_FIELDS]:
        event[name] = "[redacted]"
    return event


class _Sink:
    """Where JSON log lines go: a large buffer over stderr, flushed by :func:`flush` (the server
    calls it every 200 ms and at exit) or when it fills, so a request's log line costs no syscall."""

    def __init__(self) -> None:
        self.file: Any = sys.stderr.buffer

    def buffered(self) -> None:
        if os.environ.get("QIAO_WORKER"):  # workers share stderr: whole lines per write, never interleaved
            self.file = _Lines(sys.stderr.fileno())
        else:
            self.file = open(sys.stderr.fileno(), "wb", buffering=1 << 16, closefd=False)  # noqa: SIM115

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.file.flush()


class _Lines:
    """A write buffer over a descriptor several processes share (the workers' stderr, often a pipe): each
    write(2) carries whole lines and at most PIPE_BUF bytes, which the kernel never interleaves with another
    process's writes, so every worker's JSON lines stay whole."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()

    def write(self, data: bytes) -> int:
        self.buf += data
        if len(self.buf) >= 1 << 16:
            self.flush()
        return len(data)

    def flush(self) -> None:
        buf, out = self.buf, 0
        self.buf = bytearray()
        while out < len(buf):
            end = out + select.PIPE_BUF
            cut = len(buf) if end >= len(buf) else buf.rfind(b"\n", out, end) + 1
            if cut <= out:  # one line longer than PIPE_BUF: it goes alone
                cut = buf.find(b"\n", end) + 1 or len(buf)
            out += os.write(self.fd, buf[out:cut])


_SINK = _Sink()
_FAST = {"on": False, "info": True, "debug": True}  # until configure(): structlog's default writes everything


def debug() -> bool:
    """Whether debug lines are written (cheap: the request path asks per attempt)."""
    return _FAST["debug"]


def flush() -> None:
    _SINK.flush()


def request_done(log: Any, fields: dict[str, Any]) -> None:
    """Emit the canonical per-request line. In JSON production mode it is rendered straight to the
    sink (one orjson call; the fields are the gateway's own, never secrets); otherwise it goes
    through structlog like every other event, which is what tests capture."""
    if not _FAST["on"]:
        log.info("request_done", **fields)
        return
    if _FAST["info"]:
        fields["event"], fields["level"] = "request_done", "info"
        fields["timestamp"] = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
        _SINK.file.write(orjson.dumps(fields) + b"\n")


class Sampler:
    """At most ``per_s`` lines a second for each kind of event (e.g. a status and error code); the rest are
    counted and reported once a second, so a flood of refused requests cannot flood the log."""

    def __init__(self, per_s: int = 20, clock: Any = None) -> None:
        self.per_s = per_s
        self.clock = clock or time.monotonic
        self.second = -1
        self.seen: dict[Any, int] = {}

    def allow(self, kind: Any) -> tuple[bool, dict[Any, int]]:
        """Whether this line may be written, and the counts of the lines held back in the second that just
        ended (to report; empty most of the time)."""
        second = int(self.clock())
        held: dict[Any, int] = {}
        if second != self.second:
            held = {k: n - self.per_s for k, n in self.seen.items() if n > self.per_s}
            self.second, self.seen = second, {}
        n = self.seen[kind] = self.seen.get(kind, 0) + 1
        return n <= self.per_s, held


class _StdlibJson(logging.Handler):
    """stdlib log records rendered by structlog as JSON lines, written to the sink."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=[
                    structlog.stdlib.add_logger_name,
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    redact,
                ],
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
            )
        )

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _SINK.file.write(self.format(record).encode("utf-8", "backslashreplace") + b"\n")
        except Exception:
            self.handleError(record)


def _route_stdlib(level: int) -> None:
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.addHandler(_StdlibJson(level))
    root.setLevel(level)
    logging.captureWarnings(True)


def configure(level: str = "info", fmt: str = "auto", buffered: bool = False) -> None:
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    _FAST["on"], _FAST["info"] = not console, _LEVELS[level] <= logging.INFO
    _FAST["debug"] = _LEVELS[level] <= logging.DEBUG
    if console:
        processors.append(structlog.dev.ConsoleRenderer(colors=True))
        factory: Any = structlog.PrintLoggerFactory(file=sys.stderr)
    else:
        if buffered:
            _SINK.buffered()
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(serializer=orjson.dumps)]
        factory = structlog.BytesLoggerFactory(file=_SINK.file)
        _route_stdlib(_LEVELS[level])
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )


def describe(e: BaseException, limit: int = 300) -> str:
    """An exception in one line: its class and message (whitespace folded, at most ``limit`` characters)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}"[:limit] if text else type(e).__name__


class Lasting:
    """A fault that lasts across the turns of a loop (a hand-edited Redis value, a task that keeps failing): logged
    as ``event`` when it begins or its reason changes, not at every turn, and as ``ended`` once when it is gone."""

    __slots__ = ("ended", "event", "log", "reason")

    def __init__(self, log: Any, event: str, ended: str = "") -> None:
        self.log, self.event, self.ended = log, event, ended
        self.reason = ""  # the fault's reason ("": none now)

    def fault(self, reason: str, **fields: Any) -> None:
        if reason != self.reason:
            self.log.error(self.event, reason=reason, **fields)
        self.reason = reason

    def ok(self) -> None:
        if self.reason and self.ended:
            self.log.info(self.ended, was=self.reason)
        self.reason = ""
