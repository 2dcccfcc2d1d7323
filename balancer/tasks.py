"""Stopping background tasks within a bound.

``task.cancel()`` then ``await task`` under ``suppress(CancelledError)`` has two faults: it swallows a
cancellation aimed at the caller (the shutdown deadline), and it waits forever for a task whose cancel
was swallowed inside a client library. ``stop`` waits with ``asyncio.wait`` instead, for at most a
bound; loops that must end also check a closing flag of their owner at every turn. ``survive`` keeps a
background loop alive past an exception it did not expect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from balancer.logs import Lasting, describe

log = structlog.get_logger("balancer.tasks")

STOP_S = 2.0


async def stop(*tasks: asyncio.Task[Any] | None, within_s: float = STOP_S) -> None:
    """Cancel ``tasks`` and wait until they end, at most ``within_s`` seconds (then log and go on)."""
    live = {t for t in tasks if t is not None and not t.done()}
    for t in live:
        t.cancel()
    if not live:
        return
    _, pending = await asyncio.wait(live, timeout=within_s)
    if pending:
        log.warning("task_did_not_stop", tasks=sorted(t.get_name() for t in pending), waited_s=within_s)


async def survive(loop: Callable[[], Awaitable[None]], name: str, pause_s: float = 1.0) -> None:
    """Run the background ``loop`` until it returns. An exception it did not expect does not end it: it is
    logged (``background_task_failed``, once per distinct error, with its traceback) and ``loop`` starts
    again after ``pause_s``. Cancellation stops it."""
    failing = Lasting(log, "background_task_failed")
    while True:
        try:
            await loop()
            return
        except Exception as e:
            failing.fault(describe(e), task=name, restart_in_s=pause_s, exc_info=e)
        await asyncio.sleep(pause_s)


def spawn(loop: Callable[[], Awaitable[None]], name: str, pause_s: float = 1.0) -> asyncio.Task[None]:
    """A task running ``loop`` under :func:`survive`."""
    return asyncio.create_task(survive(loop, name, pause_s), name=name)
