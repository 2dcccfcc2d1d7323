"""Stopping background tasks: bounded, and a shutdown deadline is never swallowed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

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
