"""The network seam above :mod:`balancer.http`: transport errors as failure classes, SSE payloads.

:class:`balancer.http.Pool` sends the hot path's requests; here a transport exception becomes an
:class:`~balancer.errors.Outcome` (here and nowhere else), and :class:`SSEReader` yields a streamed body's
events' data. ``new_session`` is the aiohttp client for calls off the hot path (balance polls).
"""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec

from balancer import wire
from balancer.errors import Failure, Outcome
from balancer.http import ReplyTooLarge, Response, UpstreamConnectionError

DONE = b"[DONE]"
BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark: a stream may start with it (SSE drops it)
_START, _LF, _CR = 1, 0, 2  # SSEReader._mode: the line ends are not known yet, LF or CRLF, lone CR
MAX_EVENT_BYTES = 8 << 20  # one SSE event longer than this is not a vendor's chunk: the stream is malformed
_CHECKS = 16  # parses one event over several data lines may cost before only its blank line ends it
_OPEN, _WHOLE, _OTHER = 0, 1, 2  # what an event's data is so far (_state)
_JSON_SPACE = b" \t\r\n"
_RAW = msgspec.json.Decoder(msgspec.Raw)  # validates JSON without building it
#: Event names whose data is no chunk (a vendor's or proxy's keep-alive); any other name's data is (``result``).
KEEPALIVE_EVENTS = frozenset({b"ping", b"heartbeat", b"keepalive", b"keep-alive"})


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
    """Yields the data of an SSE body's events, one payload per event, as they arrive.

    An event's data may come over several ``data:`` lines (pretty-printed JSON): they are joined as the SSE spec
    says, with a line feed, and the event ends at its blank line. Vendors that put no blank line between events
    (each ``data:`` line a whole chunk) are read too: an event also ends at the end of a data line when its data
    is not a JSON object or array cut short, so such a line is never held for the next. A joined JSON value is
    yielded on one line (its line feeds are whitespace): the relay writes each payload as one ``data:`` line.
    :attr:`error` says whether the payload just returned came in an ``event: error``; an event with empty data
    (``data:`` alone), or named in :data:`KEEPALIVE_EVENTS` (``event: ping`` / ``data: ping``) whatever its
    data, is a keep-alive, not a payload.
    Tolerant of the dialects seen in the wild: ``data:{...}`` without a space (Spark), ``: keep-alive``
    comments and blank lines (DeepSeek while queued), CRLF line ends, and what the SSE spec allows besides: a
    byte-order mark before the first line, lone-CR line ends; ``data: [DONE]`` with anything after it (spaces).
    Other fields (``id:``, ``retry:``, ``event:`` names but ``error`` and the keep-alives) are ignored — and they
    are not progress: the time a caller gives :meth:`next` runs until a data payload, whatever else arrives.
    The buffer is read by position, not sliced per line: a burst of events costs one copy, not one per event;
    and an event whose blank line has arrived with it is never parsed here.
    """

    __slots__ = ("_buf", "_checks", "_error", "_held", "_mode", "_parts", "_ping", "_pos", "_resp", "error")

    def __init__(self, resp: Response) -> None:
        self._resp = resp
        self._buf = b""
        self._pos = 0  # where the unread part of _buf starts
        self._mode = _START  # _START until the first line end says how lines end; then _LF or _CR
        self._parts: list[bytes] = []  # the data lines of an event not ended yet (one cut short)
        self._held = 0  # their bytes as sent (bounded with the unread buffer by MAX_EVENT_BYTES)
        self._checks = _CHECKS
        self._error = False  # the event being read was named ``error``
        self._ping = False  # the event being read is named as a keep-alive: its data is dropped
        self.error = False  # the payload last returned came in an ``event: error``

    async def next(self, timeout_s: float) -> bytes | None:
        """The next payload, or None at the end of the body; TimeoutError when no payload arrived within
        ``timeout_s`` (comments and keep-alives do not restart it); ReplyTooLarge on an event without an end."""
        line = self._payload()
        if line is not None:  # already here: no timer
            return line
        async with asyncio.timeout(timeout_s):
            while True:
                chunk = await self._resp.readany()
                if not chunk:  # the body's end ends its last line, and its last event
                    self._buf, self._pos = self._buf[self._pos :] + b"\n\n", 0
                    return self._payload() if self._mode != _START or self._sniff() else None
                if self._mode == _CR:
                    chunk = chunk.replace(b"\r", b"\n")
                self._buf = self._buf[self._pos :] + chunk if self._pos else self._buf + chunk
                self._pos = 0
                line = None if self._mode == _START and not self._sniff() else self._payload()
                if line is not None:
                    return line
                if len(self._buf) - self._pos + self._held > MAX_EVENT_BYTES:
                    raise ReplyTooLarge(f"an SSE event longer than {MAX_EVENT_BYTES} bytes")

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
        """The data of the first event that ends after the read position (skipping other lines), or None."""
        buf, pos, size = self._buf, self._pos, len(self._buf)
        while (nl := buf.find(b"\n", pos)) >= 0:
            line, start, end = pos, pos, nl - 1 if nl > pos and buf[nl - 1] == 13 else nl  # 13: CR
            pos = nl + 1
            if buf.startswith(b"data:", start, end):
                start += 5
                while start < end and buf[start] == 32:  # spaces after the colon
                    start += 1
                if self._parts:
                    got = self._more(buf, start, end, pos, pos - line)
                elif start < end and (
                    (pos < size and buf[pos] == 10) or buf.startswith(b"\r\n", pos) or _state(buf[start:end]) != _OPEN
                ):  # the usual event: one line (the blank line after it, or its data is no object cut short)
                    if self._ping:
                        self._error = self._ping = False
                        continue
                    self._pos = pos
                    self.error, self._error = self._error, False
                    if buf[start] == 91 and buf.startswith(DONE, start, end):  # 91: "["
                        return DONE  # "[DONE]  " too: what follows [DONE] is not read (as the openai SDK does)
                    return buf[start:end]
                else:  # an object cut short, or nothing yet (empty): the next data line may go on with it
                    self._parts, self._held = [buf[start:end]], pos - line
                    continue
            elif start == end:  # a blank line ends the event
                if not self._parts:
                    self._error = self._ping = False
                    continue
                got = self._dispatch()
            else:
                self._field(buf, start, end)
                continue
            if got is not None:
                self._pos = pos
                return got
        self._pos = pos
        return None

    def _field(self, buf: bytes, start: int, end: int) -> None:
        """A line other than data or blank: an ``event:`` name is noted; other fields and comments are ignored."""
        if buf.startswith(b"event:", start, end):
            name = buf[start + 6 : end].strip()
            self._error, self._ping = name == b"error", name.lower() in KEEPALIVE_EVENTS

    def _more(self, buf: bytes, start: int, end: int, pos: int, size: int) -> bytes | None:
        """A further data line of the held event: the event, when this line ends it (as a whole JSON value not
        followed by its blank line: checked only on a line that closes a bracket, at most _CHECKS times)."""
        self._parts.append(buf[start:end])
        self._held += size
        if self._checks <= 0 or end == start or buf[end - 1] not in b"}]" or _blank_at(buf, pos):
            return None
        self._checks -= 1
        data = b"\n".join(self._parts)
        state = _state(data)
        return None if state == _OPEN else self._dispatch(data, state)

    def _dispatch(self, data: bytes | None = None, state: int | None = None) -> bytes | None:
        """End the event: its data lines joined (``data`` when already joined, ``state`` its :func:`_state` if
        known); one line when they make one JSON value; None for an event without data."""
        parts, error, ping, self._error, self._ping = self._parts, self._error, self._ping, False, False
        if not parts:
            return None
        self._parts, self._held, self._checks = [], 0, _CHECKS
        data = b"\n".join(parts) if data is None else data
        if not data or ping:
            return None  # an empty event, or a named keep-alive
        self.error = error
        if len(parts) > 1 and (_state(data) if state is None else state) == _WHOLE:
            return data.replace(b"\n", b" ")  # line feeds between JSON tokens are whitespace
        return data


def _blank_at(buf: bytes, pos: int) -> bool:
    """Whether a blank line starts at ``pos`` (so the line before it ends its event)."""
    return buf.startswith(b"\n", pos) or buf.startswith(b"\r\n", pos)


def _state(data: bytes) -> int:
    """_OPEN: nothing yet (JSON whitespace at most), or a JSON object or array cut short (a further data line may
    finish it); _WHOLE: one JSON object or array; _OTHER: anything else (a scalar, or not JSON: no further line can
    make it an object). Whitespace is JSON's (RFC 8259: space, tab, CR, LF), not Python's: a form feed is data."""
    head = data.lstrip(_JSON_SPACE)[:1]
    if not head:
        return _OPEN
    if head not in (b"{", b"["):
        return _OTHER
    try:
        _RAW.decode(data)
    except wire.HOSTILE_JSON as e:  # nested deeper than msgspec reads too: no chunk (caught inline, per chunk)
        return _OPEN if isinstance(e, msgspec.DecodeError) and "truncated" in str(e) else _OTHER
    return _WHOLE
