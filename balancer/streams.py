"""Streams after their first event: forwarded chunk by chunk, never buffered, and ended honestly.

Until the first event a stream fails over like any request (:mod:`balancer.failover`). From then on
it belongs to the client: ``[DONE]`` when the vendor finished, otherwise an OpenAI-style error event
(the SDK raises) — an upstream cut, a stall past the idle timeout, a malformed chunk or a vendor
error inside the stream. However it ends, the attempt is handed back to :meth:`balancer.attempt.Caller.end`,
which settles, books and logs it (a failed one cools its candidate down, so one request pays).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from balancer import replies, shapes, upstream
from balancer.attempt import Caller
from balancer.errors import CLIENT_FACING, Failure, Outcome, error_event
from balancer.job import Job, Stream
from balancer.vendors import openai_compat as compat

DRAIN_S = 1.0  # how long a finished stream's leftovers are read before its connection is dropped


class Client(Protocol):
    """The client's side of a stream (:class:`balancer.api._ClientStream`)."""

    async def write(self, data: bytes) -> None:
        """Send bytes; OSError when the client has gone or stopped reading."""

    async def finish(self) -> None:
        """End the response (never raises)."""


async def pump(caller: Caller, job: Job, s: Stream, client: Client) -> Outcome | None:
    """Forward the stream as it comes; end it with ``[DONE]`` or an error event. Returns how the upstream ended,
    or None when our side cut it (a write raised OSError: the client left or stopped reading; or the gateway
    shut down); whatever happens, the attempt is settled, booked and logged once. Events that arrived together
    go out in one write (what was received is sent before the next wait), not one write per event."""
    timeouts = caller.cfg.provider_timeouts(s.choice.provider)
    end = min(job.deadline, s.started + timeouts.total_s)
    relay = _Relay(caller, job, s)
    payload: bytes = s.first or upstream.DONE
    view = s.first_view  # the first chunk was classified when the stream opened
    outcome: Outcome | None = None
    cut_by = ""  # set when our side ends the stream: the client went away, or the gateway is shutting down
    ttft = (time.perf_counter() - s.started) * 1000
    try:
        while payload != upstream.DONE:
            relay.take(payload, view)
            got: bytes | Outcome | None = s.reader.ready()
            if got is None:
                await relay.flush(client.write)
                got = await _next(s, timeouts.idle_s, end, relay.finished)
            if isinstance(got, Outcome):
                outcome = got
                break
            payload = got
            if payload != upstream.DONE:
                payload, result, view = caller.judge.mapped(s.choice.vendor, payload, s.reader.error)
                if not result.ok:
                    outcome = result
                    break
        outcome = outcome or Outcome()  # no outcome: the loop ended on [DONE]
        cut_by = "gateway_shutdown" if not outcome.ok and caller.drain.expired else ""  # the drain cut it
        relay.frames.append(b"data: [DONE]\n\n" if outcome.ok else _error_event(s, outcome, cut_by))
        await relay.flush(client.write)
    except OSError:  # the client went away, or stopped reading for longer than the write timeout
        cut_by = "client_disconnected"
    finally:
        job.upstream_s += time.perf_counter() - s.started
        ended = None if cut_by or outcome is None else outcome
        # The vendor bills what it streamed, however the stream ended (an estimate when it reported no usage).
        await caller.end(
            job, s.choice, s.adm, ended, 200, s.started, billed=True, answered=relay.streamed, ttft_ms=ttft,
            mid_stream=True, cut_by=cut_by or "client_disconnected",
        )  # fmt: skip
        if ended is not None and ended.ok:
            await _drain(s, client)
        s.resp.release()
    return None if cut_by else outcome


class _Relay:
    """What a stream has relayed so far, and the frames waiting for the next write."""

    __slots__ = ("caller", "finished", "frames", "job", "s", "streamed")

    def __init__(self, caller: Caller, job: Job, s: Stream) -> None:
        self.caller, self.job, self.s = caller, job, s
        self.frames: list[bytes] = []
        self.finished = False  # a finish_reason was seen
        self.streamed = 0  # payload bytes relayed (the estimate of a stream that reports no usage)

    def take(self, payload: bytes, view: replies.ReplyView | None) -> None:
        """Account one classified event and queue it for the client (unless it is the gateway's usage chunk). A
        chunk whose usage is no token counts goes out with the estimate booked in its place (:func:`shapes.with_usage`):
        made from what is known as it passes, so the last usage the client reads is the one booked."""
        if view is not None:
            self.finished = self.finished or (bool(view.choices) and any(c.finish_reason for c in view.choices or ()))
            usage = compat.chunk_usage(self.s.choice.vendor, view)
            estimate = None  # for usage no client reads: what is booked on the payloads so far, this one included
            if usage is not None:
                estimate = self.caller.take_usage(self.job, self.s.choice, usage, self.streamed + len(payload))
            if self.s.hide_usage_chunk and not view.choices and view.usage is not None:
                return  # the usage chunk the gateway asked for, not the client
            if estimate is not None:  # the chunk carries that estimate instead
                payload = shapes.with_usage(payload, estimate)
            if self.job.view.include_usage and (
                estimate is not None or any(c.usage is not None for c in view.choices or ())
            ):
                lifted = shapes.usage_chunk(payload)  # usage inside a choice (Moonshot): OpenAI's own chunk
                if lifted is not None:
                    self._queue(lifted[0])
                    self.frames.append(b"data: " + lifted[1] + b"\n\n")
                    return
        self._queue(payload)

    def _queue(self, payload: bytes) -> None:
        if self.job.assembler is not None:
            self.job.assembler.feed(payload)
        self.streamed += len(payload)
        self.frames.append(b"data: " + payload + b"\n\n")

    async def flush(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        if self.frames:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            self.frames.clear()
            await write(data)


def _error_event(s: Stream, o: Outcome, cut_by: str) -> bytes:
    if cut_by == "gateway_shutdown":
        return error_event(
            "The gateway is shutting down and ended this answer at its drain deadline; retry the request.",
            "service_unavailable",
            "gateway_shutdown",
        )
    failure = o.failure or Failure.UPSTREAM_ERROR
    _, type_ = CLIENT_FACING[failure]
    return error_event(
        f"The upstream stream from '{s.choice.provider_name}' failed mid-answer: {failure.value} ({o.detail()}).",
        type_,
        o.code or None,
    )


async def _next(s: Stream, idle_s: float, end: float, finished: bool) -> bytes | Outcome:
    """The next payload, waiting within the idle and total time; or how the stream ended. A vendor that ends with a
    finish_reason, not [DONE], has finished once it sent one: silence after it (a body held open) is its end."""
    now = time.perf_counter()
    over = finished and not s.choice.vendor.quirks.sends_done
    try:
        payload = await s.reader.next(max(0.001, min(idle_s, end - now, DRAIN_S if over else idle_s)))
    except TimeoutError:
        if over:
            return Outcome()
        msg = "the stream stalled" if time.perf_counter() < end else "the stream exceeded its total time"
        return Outcome(failure=Failure.TIMEOUT, code="stream_timeout", message=msg)
    except OSError as e:
        return upstream.transport_failure(e)
    if payload is not None:
        return payload
    if over:
        return Outcome()  # this vendor ends with a finish_reason, not [DONE]
    return Outcome(
        failure=Failure.CONNECTION_ERROR, code="stream_truncated", message="the stream ended before completion"
    )


async def _drain(s: Stream, client: Client) -> None:
    """End the client's response (it has its [DONE]: it must not wait on the upstream), then read the finished
    stream to its end (within a second) so the connection goes back to the pool; an upstream that keeps
    sending after its end loses the connection instead."""
    await client.finish()
    try:
        async with asyncio.timeout(DRAIN_S):
            while await s.reader.next(DRAIN_S) is not None:
                pass
    except OSError:  # TimeoutError included
        s.resp.close()
