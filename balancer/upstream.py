"""The network seam above :mod:`balancer.http`: transport errors as failure classes, SSE payloads.

:class:`balancer.http.Pool` sends the hot path's requests; here a transport exception becomes an
:class:`~balancer.errors.Outcome` (here and nowhere else), and :class:`SSEReader` yields a streamed body's
``data:`` payloads. ``new_session`` is the aiohttp client for calls off the hot path (balance polls).
"""

from __future__ import annotations

import asyncio

import aiohttp

from balancer.errors import Failure, Outcome
from balancer.http import Response, UpstreamConnectionError

DONE = b"[DONE]"


def new_session(limit: int = 1000) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        headers={"User-Agent": "qiao-gateway"},
    )


def transport_failure(exc: BaseException) -> Outcome:
    """Map a transport exception (never a vendor reply) to a failure class."""
    if isinstance(exc, TimeoutError):
        return Outcome(failure=Failure.TIMEOUT, status=0, code="timeout", message="upstream did not answer in time")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return Outcome(failure=Failure.TIMEOUT, status=0, code="timeout", message=str(exc) or "read timeout")
    if isinstance(exc, UpstreamConnectionError | aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return Outcome(failure=Failure.CONNECTION_ERROR, status=0, code="disconnected", message=str(exc)[:200])
    return Outcome(failure=Failure.CONNECTION_ERROR, status=0, code="connection_error", message=str(exc)[:200])


class SSEReader:
    """Yields the ``data:`` payloads of an SSE body, one per line, as they arrive.

    Tolerant of the dialects seen in the wild: ``data:{...}`` without a space (Spark), ``: keep-alive``
    comments and blank lines (DeepSeek while queued), CRLF line ends. Other fields are ignored.
    """

    __slots__ = ("_buf", "_resp")

    def __init__(self, resp: Response) -> None:
        self._resp = resp
        self._buf = b""

    async def next(self, timeout_s: float) -> bytes | None:
        """The next payload, or None at the end of the body; TimeoutError after ``timeout_s`` idle."""
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = self._buf[:nl].rstrip(b"\r")
                self._buf = self._buf[nl + 1 :]
                if line.startswith(b"data:"):
                    return line[5:].lstrip(b" ")
                continue
            async with asyncio.timeout(timeout_s):
                chunk = await self._resp.readany()
            if not chunk:
                if self._buf.startswith(b"data:"):
                    line, self._buf = self._buf.rstrip(b"\r"), b""
                    return line[5:].lstrip(b" ")
                return None
            self._buf += chunk
