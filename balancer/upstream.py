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
BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark: a stream may start with it (SSE drops it)
_START, _LF, _CR = 1, 0, 2  # SSEReader._mode: the line ends are not known yet, LF or CRLF, lone CR
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
    comments and blank lines (DeepSeek while queued), CRLF line ends, and what the SSE spec allows besides: a
    byte-order mark before the first line, lone-CR line ends; ``data: [DONE]`` with anything after it (spaces).
    Other fields are ignored — and they are not progress: the time a caller gives :meth:`next` runs until a
    data payload, whatever else arrives.
    The buffer is read by position, not sliced per line: a burst of events costs one copy, not one per event.
    """

    __slots__ = ("_buf", "_mode", "_pos", "_resp")

    def __init__(self, resp: Response) -> None:
        self._resp = resp
        self._buf = b""
        self._pos = 0  # where the unread part of _buf starts
        self._mode = _START  # _START until the first line end says how lines end; then _LF or _CR

    async def next(self, timeout_s: float) -> bytes | None:
        """The next payload, or None at the end of the body; TimeoutError when no payload arrived within
        ``timeout_s`` (comments and keep-alives do not restart it); ReplyTooLarge on a line without an end."""
        line = self._payload()
        if line is not None:  # already here: no timer
            return line
        async with asyncio.timeout(timeout_s):
            while True:
                chunk = await self._resp.readany()
                if not chunk:  # the body's end ends its last line
                    self._buf, self._pos = self._buf[self._pos :] + b"\n", 0
                    return self._payload() if self._mode != _START or self._sniff() else None
                if self._mode == _CR:
                    chunk = chunk.replace(b"\r", b"\n")
                self._buf = self._buf[self._pos :] + chunk if self._pos else self._buf + chunk
                self._pos = 0
                line = None if self._mode == _START and not self._sniff() else self._payload()
                if line is not None:
                    return line
                if len(self._buf) - self._pos > MAX_EVENT_BYTES:
                    raise ReplyTooLarge(f"an SSE line longer than {MAX_EVENT_BYTES} bytes")

    def ready(self) -> bytes | None:
        """The next payload if it has already arrived, else None (without waiting: then call :meth:`next`)."""
        return self._payload()

    def _sniff(self) -> bool:
        """On the stream's first bytes (until decided; True then): drop a byte-order mark, and learn whether lines
        end in a lone CR (from then on each CR is read as LF: blank lines between events are skipped anyway)."""
        buf = self._buf
        if len(buf) < 3 and BOM.startswith(buf):
            return False
        if buf.startswith(BOM):
            buf = buf[3:]
        cr = buf.find(b"\r")
        if cr < 0 or buf.find(b"\n", 0, cr) >= 0:
            mode = _LF if b"\n" in buf else _START
        elif cr + 1 < len(buf):
            mode = _LF if buf[cr + 1] == 10 else _CR  # 10: LF
        else:
            mode = _START  # a CR at the end of what came: its LF may be in the next read
        if mode == _START:
            return False
        self._buf, self._mode = buf.replace(b"\r", b"\n") if mode == _CR else buf, mode
        return True

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
