"""structlog set-up: JSON lines in production, a readable console on a TTY.

Secrets never reach a log line: a processor drops any field whose name looks like a credential, and
config values holding keys are :class:`balancer.config.Secret`, which never print their value.
"""

from __future__ import annotations

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


def configure(level: str = "info", fmt: str = "auto") -> None:
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    if console:
        processors.append(structlog.dev.ConsoleRenderer(colors=True))
        factory: Any = structlog.PrintLoggerFactory(file=sys.stderr)
    else:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(serializer=orjson.dumps)]
        factory = structlog.BytesLoggerFactory(file=sys.stderr.buffer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
