"""The network seam above :mod:`balancer.http`: transport errors as failure classes, SSE payloads.

:class:`balancer.http.Pool` sends the hot path's requests; here a transport exception becomes an
:class:`~balancer.errors.Outcome` (here and nowhere else), and :class:`SSEReader` yields a streamed body's
``data:`` payloads. ``new_session`` is the aiohttp client for calls off the hot path (balance polls).
"""

from __future__ import annotations

import asyncio

import aiohttp

from balancer.errors import Failure, Outcome
from balancer.http import ReplyTooLarge, Response, UpstreamConnectionError

DONE = b"[DONE]"
MAX_EVENT_BYTES = 8 << 20  # one SSE line longer than this is not a vendor's chunk: the stream is malformed


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
    if isinstance(exc, ReplyTooLarge):
        return Outcome(failure=Failure.MALFORMED_RESPONSE, status=0, code="malformed", message=str(exc))
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
    comments and blank lines (DeepSeek while queued), CRLF line ends, ``data: [DONE]`` with anything after
    it (spaces). Other fields are ignored — and they are
    not progress: the time a caller gives :meth:`next` runs until a data payload, whatever else arrives.
    The buffer is read by position, not sliced per line: a burst of events costs one copy, not one per event.
    """

    __slots__ = ("_buf", "_pos", "_resp")

    def __init__(self, resp: Response) -> None:
        self._resp = resp
        self._buf = b""
        self._pos = 0  # where the unread part of _buf starts

    async def next(self, timeout_s: float) -> bytes | None:
        """The next payload, or None at the end of the body; TimeoutError when no payload arrived within
        ``timeout_s`` (comments and keep-alives do not restart it); ReplyTooLarge on a line without an end."""
        line = self._payload()
        if line is not None:  # already here: no timer
            return line
        async with asyncio.timeout(timeout_s):
            while True:
                chunk = await self._resp.readany()
                if not chunk:
                    rest, self._buf, self._pos = self._buf[self._pos :].rstrip(b"\r"), b"", 0
                    if not rest.startswith(b"data:"):
                        return None
                    rest = rest[5:].lstrip(b" ")
                    return DONE if rest.startswith(DONE) else rest
                self._buf = self._buf[self._pos :] + chunk if self._pos else self._buf + chunk
                self._pos = 0
                line = self._payload()
                if line is not None:
                    return line
                if len(self._buf) - self._pos > MAX_EVENT_BYTES:
                    raise ReplyTooLarge(f"an SSE line longer than {MAX_EVENT_BYTES} bytes")

    def ready(self) -> bytes | None:
        """The next payload if it has already arrived, else None (without waiting: then call :meth:`next`)."""
        return self._payload()

    def _payload(self) -> bytes | None:
        """The first complete data line after the read position (skipping other lines), or None."""
        buf, pos = self._buf, self._pos
        while (nl := buf.find(b"\n", pos)) >= 0:
            start, end = pos, nl - 1 if nl > pos and buf[nl - 1] == 13 else nl  # 13: CR
            pos = nl + 1
            if buf.startswith(b"data:", start, end):
                self._pos = pos
                start += 5
                while start < end and buf[start] == 32:  # spaces after the colon
                    start += 1
                if start < end and buf[start] == 91 and buf.startswith(DONE, start):  # 91: "["
                    return DONE  # "[DONE]  " too: what follows [DONE] is not read (as the openai SDK does)
                return buf[start:end]
        self._pos = pos
        return None
