"""Streams after their first event: forwarded chunk by chunk, never buffered, and ended honestly.

Until the first event a stream fails over like any request (:mod:`balancer.failover`). From then on
it belongs to the client: ``[DONE]`` when the vendor finished, otherwise an OpenAI-style error event
(the SDK raises) — an upstream cut, a stall past the idle timeout, a malformed chunk or a vendor
error inside the stream — and the candidate pays for it (cooldown, breaker).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import msgspec
import structlog

from balancer import upstream, wire
from balancer.config import ClassPolicy
from balancer.errors import CLIENT_FACING, Failure, Outcome, error_event
from balancer.failover import Engine, Job, Stream, mapped_chunk, usage_total
from balancer.vendors import openai_compat as compat

log = structlog.get_logger("balancer.streams")


async def pump(engine: Engine, job: Job, s: Stream, write: Callable[[bytes], Awaitable[None]]) -> Outcome:
    """Forward the stream chunk by chunk; end it with ``[DONE]`` or an error event. Returns how it ended."""
    timeouts = engine.cfg.provider_timeouts(s.choice.provider)
    end = min(job.deadline, s.started + timeouts.total_s)
    vendor, finished, streamed = s.choice.vendor, False, 0  # finished: a finish_reason was seen
    payload: bytes | None = s.first
    outcome: Outcome | None = None
    ttft = (time.perf_counter() - s.started) * 1000
    try:
        while payload is not None:
            if payload == upstream.DONE:
                outcome = Outcome()
                break
            result, view = compat.classify_chunk(vendor, payload, engine.clock())
            if not result.ok:
                outcome = result
                break
            if view is not None:
                finished = _account(job, s, view) or finished
                if s.hide_usage_chunk and not view.choices and view.usage is not None:
                    payload = None  # the usage chunk the gateway asked for, not the client
            if payload is not None:
                if job.assembler is not None:
                    job.assembler.feed(payload)
                streamed += len(payload)
                await write(b"data: " + payload + b"\n\n")
            payload, outcome = await _next(s, timeouts.idle_s, end, finished)
        if outcome is None:  # unreachable: every exit from the loop sets it
            outcome = Outcome(failure=Failure.CONNECTION_ERROR, code="stream_lost")
        if outcome.ok:
            await write(b"data: [DONE]\n\n")
        else:
            await write(_error_event(s, outcome))
    finally:
        if outcome is not None and outcome.ok:
            await _drain(s)
        s.resp.release()
        await _end_stream(engine, job, s, outcome, streamed, ttft)
    return outcome


def _error_event(s: Stream, o: Outcome) -> bytes:
    failure = o.failure or Failure.UPSTREAM_ERROR
    _, type_ = CLIENT_FACING[failure]
    return error_event(
        f"The upstream stream from '{s.choice.provider_name}' failed mid-answer: "
        f"{failure.value} ({o.message or o.code}).",
        type_,
        o.code or None,
    )


async def _next(s: Stream, idle_s: float, end: float, finished: bool) -> tuple[bytes | None, Outcome | None]:
    now = time.perf_counter()
    try:
        payload = await s.reader.next(max(0.001, min(idle_s, end - now)))
    except TimeoutError:
        msg = "the stream stalled" if time.perf_counter() < end else "the stream exceeded its total time"
        return None, Outcome(failure=Failure.TIMEOUT, code="stream_timeout", message=msg)
    except OSError as e:
        return None, upstream.transport_failure(e)
    if payload is not None:
        return payload if payload == upstream.DONE else mapped_chunk(s.choice.vendor.map_chunk, payload), None
    if finished and not s.choice.vendor.quirks.sends_done:
        return None, Outcome()  # this vendor ends with a finish_reason, not [DONE]
    return None, Outcome(
        failure=Failure.CONNECTION_ERROR, code="stream_truncated", message="the stream ended before completion"
    )


async def _end_stream(engine: Engine, job: Job, s: Stream, outcome: Outcome | None, streamed: int, ttft: float) -> None:
    ms = (time.perf_counter() - s.started) * 1000
    job.upstream_s += ms / 1000
    if job.usage is None:
        job.usage_estimated = True
        job.usage = wire.Usage(
            prompt_tokens=job.view.size_bytes // 3,
            completion_tokens=streamed // 12,
            total_tokens=job.view.size_bytes // 3 + streamed // 12,
        )
    choice = s.choice
    engine.book(job, choice)  # the vendor bills what it streamed, however the stream ended
    if outcome is None:  # the client went away (cancelled): neither the provider's fault nor a success
        await engine.settle(choice, s.adm, usage_total(job.usage), "neutral", ms)
        job.add(choice, "client_disconnected", 200, ms, ttft)
        return
    if outcome.ok:
        await engine.settle(choice, s.adm, usage_total(job.usage), "ok", ms)
        job.add(choice, "ok", 200, ms, ttft)
        return
    failure = outcome.failure or Failure.UPSTREAM_ERROR
    rule = job.route.failover.classes.get(failure, ClassPolicy())
    await engine.settle(choice, s.adm, usage_total(job.usage), "fail" if rule.breaker else "neutral", ms)
    cooldown = max(rule.cooldown_s, job.route.failover.mid_stream_cooldown_s)
    await engine.consequence(choice, outcome, msgspec.structs.replace(rule, cooldown_s=cooldown))
    job.add(choice, failure.value, 200, ms, ttft)
    log.info(
        "stream_failed",
        request_id=job.request_id,
        provider=choice.provider_name,
        failure=failure.value,
        message=outcome.message[:200],
    )


def _account(job: Job, s: Stream, view: wire.ReplyView) -> bool:
    """Take usage from a chunk; True when the chunk carries a finish_reason."""
    usage = compat.chunk_usage(s.choice.vendor, view)
    if usage is not None:
        job.usage = usage
    return bool(view.choices) and any(c.finish_reason for c in view.choices or ())


async def _drain(s: Stream) -> None:
    """Read a finished stream to its end so the connection goes back to the pool."""
    try:
        while await s.reader.next(0.5) is not None:
            pass
    except OSError:
        s.resp.close()
