"""Stopping background tasks: bounded, and a shutdown deadline is never swallowed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import structlog

from balancer import tasks


async def stubborn(release: asyncio.Event) -> None:
    """A loop whose cancel is swallowed once (as a client library may), then waits on."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3600)
    await release.wait()


async def test_stop_cancels_and_waits_for_a_task() -> None:
    """A task that honours its cancel is ended and awaited."""
    t = asyncio.create_task(asyncio.sleep(3600))
    await tasks.stop(t, None)
    assert t.cancelled()


async def test_stop_gives_up_on_a_task_that_swallowed_its_cancel() -> None:
    """A task that swallowed its cancel does not hold the caller beyond the bound."""
    release = asyncio.Event()
    t = asyncio.create_task(stubborn(release))
    await asyncio.sleep(0)
    await tasks.stop(t, within_s=0.05)
    assert not t.done()
    release.set()
    await t


async def test_a_deadline_on_the_caller_is_not_swallowed() -> None:
    """The shutdown deadline around ``stop`` still fires (``await task`` under suppress(CancelledError)
    would swallow it and wait for the stubborn task forever)."""
    release = asyncio.Event()
    t = asyncio.create_task(stubborn(release))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await tasks.stop(t, within_s=3600)
    release.set()
    await t


async def test_survive_restarts_a_loop_after_an_unexpected_exception_and_logs_it_once() -> None:
    """A background loop that raises what its owner did not expect (a RuntimeError, a KeyError) is started
    again after the pause, each distinct error logged once with the task's name; a loop that returns ends it."""
    runs: list[int] = []

    async def loop() -> None:
        runs.append(1)
        if len(runs) <= 3:
            raise RuntimeError("boom")
        if len(runs) == 4:
            raise KeyError("hook")

    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(tasks.survive(loop, "test-loop", pause_s=0.001), timeout=10)
    assert len(runs) == 5
    failed = [(e["task"], e["reason"]) for e in logs if e["event"] == "background_task_failed"]
    assert failed == [("test-loop", "RuntimeError: boom"), ("test-loop", "KeyError: 'hook'")]


async def test_a_survived_loop_still_stops_on_cancel() -> None:
    """Cancellation is no exception to survive: ``stop`` ends a spawned loop, also while it pauses."""

    async def failing() -> None:
        raise RuntimeError("again")

    for loop in (failing, lambda: asyncio.sleep(3600)):
        t = tasks.spawn(loop, "test-loop", pause_s=3600)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await tasks.stop(t)
        assert t.cancelled()
