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
import sys
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
        self.file = open(sys.stderr.fileno(), "wb", buffering=1 << 16, closefd=False)  # noqa: SIM115

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.file.flush()


_SINK = _Sink()
_FAST = {"on": False, "info": True}


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
