"""The serve command's shutdown diagnostics."""

from __future__ import annotations

import asyncio

from balancer import cli


async def test_stuck_tasks_name_the_coroutine_and_where_it_waits() -> None:
    """A shutdown that times out logs each task still running: its coroutine and the line it waits on."""
    gate = asyncio.Event()

    async def flush_forever() -> None:
        await gate.wait()

    task = asyncio.create_task(flush_forever())
    await asyncio.sleep(0)
    stuck = cli._stuck_tasks()
    gate.set()
    await task
    assert len([s for s in stuck if "flush_forever" in s]) == 1
    assert any(s.endswith(f"test_cli.py:{flush_forever.__code__.co_firstlineno + 1}") for s in stuck)
    me = test_stuck_tasks_name_the_coroutine_and_where_it_waits.__qualname__
    assert not any(s.split(" at ")[0] == me for s in stuck)  # the task asking is not listed
