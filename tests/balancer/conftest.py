"""Fixtures the hostile-reply tests share: the hostile upstream and the log lines a test emits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog

from tests.balancer import hostile_upstream


@pytest.fixture
async def hostile() -> AsyncIterator[str]:
    """The base URL of a running :mod:`tests.balancer.hostile_upstream`."""
    async for url in hostile_upstream.serve():
        yield url


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """The structlog events emitted during the test."""
    with structlog.testing.capture_logs() as captured:
        yield captured
