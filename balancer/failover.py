"""The attempt loop: try candidates in order until one answers, within an attempt budget and a deadline.

For each candidate: admit (quota, breaker, cooldown: one atomic store call) → the vendor shapes the
request (pure) → send → the vendor classifies the reply (pure) → settle the reservation → either the
answer, or the failure class's consequence (cooldown, disable, breaker) and the next candidate.

Streams fail over like any request until their first event is in hand; from then on the stream
belongs to the client, and :meth:`Engine.pump` ends it honestly (``[DONE]`` or an error event).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import msgspec
import structlog

from balancer import http, router, upstream, wire
from balancer.capture import StreamAssembler
from balancer.config import ClassPolicy, Config
from balancer.errors import CLIENT_FACING, Failure, GatewayError, Outcome, error_event
from balancer.ledger import Charge, Ledger
from balancer.planner import Plan
from balancer.router import Choice, CompiledRoute
from balancer.state import Admission, StateStore, Verdict
from balancer.vendors import openai_compat as compat
from balancer.vendors.base import BytesMap

log = structlog.get_logger("balancer.failover")

Clock = Callable[[], float]


@dataclass(slots=True)
class Attempt:
    provider: str
    model: str
    result: str  # "ok", a failure class, or "skipped:<reason>"
    status: int = 0
    ms: float = 0.0
    ttft_ms: float | None = None

    def as_log(self) -> dict[str, object]:
        d: dict[str, object] = {"provider": self.provider, "model": self.model, "result": self.result}
        if not self.result.startswith("skipped"):
            d["status"], d["ms"] = self.status, round(self.ms, 2)
        if self.ttft_ms is not None:
            d["ttft_ms"] = round(self.ttft_ms, 2)
        return d


@dataclass(slots=True)
class Job:
    """One client request on its way through the gateway."""

    request_id: str
    route: CompiledRoute
    body: wire.Body
    view: wire.RequestView
    deadline: float  # perf_counter time
    client_gone: Callable[[], bool]
    strategy: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    upstream_s: float = 0.0  # time spent waiting on upstreams (the rest is gateway overhead)
    min_context: int = 0
    usage: wire.Usage | None = None
    usage_estimated: bool = False
    served_by: Choice | None = None
    tries: int = 0  # upstream calls made (skipped candidates are not tries)
    assembler: StreamAssembler | None = None  # set when this request's transcript is captured
    adjustments: list[str] = field(default_factory=list)  # what a vendor quirk changed in the request

    def add(self, choice: Choice, result: str, status: int = 0, ms: float = 0.0, ttft_ms: float | None = None) -> None:
        """Record one attempt (or skipped candidate) for the request_done line; a debug line each."""
        attempt = Attempt(choice.provider_name, choice.model, result, status, ms, ttft_ms)
        self.attempts.append(attempt)
        if log.is_enabled_for(logging.DEBUG):
            log.debug("attempt", request_id=self.request_id, **attempt.as_log())


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes


@dataclass(slots=True)
class Stream:
    choice: Choice
    adm: Admission
    resp: http.Response
    reader: upstream.SSEReader
    first: bytes
    started: float
    hide_usage_chunk: bool


class Engine:
    def __init__(
        self,
        cfg: Config,
        routes: dict[str, CompiledRoute],
        store: StateStore,
        pool: http.Pool,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        ledger: Ledger | None = None,
        plan: Callable[[], Plan | None] = lambda: None,
    ) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.plan = plan
        self.routes = routes
        self.store = store
        self.pool = pool
        self.clock = clock
        self.rng = rng or random.Random()

    # ---- the loop -----------------------------------------------------------------------------

    async def serve(self, job: Job) -> Reply | Stream:
        policy = job.route.failover
        ordered, soonest = router.order(job.route, self.store, self.clock(), self.rng, job.strategy, self.plan())
        last: Outcome | None = None
        for choice in ordered:
            if job.tries >= policy.max_attempts or time.perf_counter() >= job.deadline:
                break
            if job.client_gone():
                raise asyncio.CancelledError("client disconnected")
            if job.min_context and (choice.context_window or 0) <= job.min_context:
                job.add(choice, "skipped:context_window")
                continue
            tokens = estimate_tokens(job.view, choice)
            adm = await self.store.admit(
                choice.provider_name, choice.model, choice.provider.limits, tokens, self.cfg.breaker, self.clock()
            )
            if not adm.ok:
                job.add(choice, f"skipped:{adm.reason}")
                soonest = adm.retry_at if soonest is None else min(soonest, adm.retry_at)
                continue
            job.tries += 1
            result = await self._attempt(job, choice, adm)
            if not isinstance(result, Outcome):
                job.served_by = choice
                return result
            last = result
            if result.code == "unsupported":  # this vendor cannot take the request as asked: try the next
                continue
            failure = result.failure or Failure.UPSTREAM_ERROR
            rule = policy.classes.get(failure, ClassPolicy())
            if rule.failover is False:
                raise _client_error(failure, result, choice)
            if rule.failover == "larger_context":
                job.min_context = max(job.min_context, choice.context_window or 1)
        raise self._exhausted(job, last, soonest)

    async def _attempt(self, job: Job, choice: Choice, adm: Admission) -> Reply | Stream | Outcome:
        t0 = time.perf_counter()
        timeouts = self.cfg.provider_timeouts(choice.provider)
        try:
            shaped = self._shape(job, choice)
        except compat.Unsupported as e:
            await self._settle(choice, adm, 0, "neutral", 0.0)
            job.tries -= 1
            job.add(choice, "skipped:unsupported")
            return Outcome(failure=Failure.BAD_REQUEST, code="unsupported", message=str(e))
        if shaped.adjustments:
            job.adjustments = shaped.adjustments  # counted in request_done; detail at debug
            log.debug("request_shaped", provider=choice.provider_name, changes=shaped.adjustments)
        remaining = max(0.001, job.deadline - t0)
        try:
            signed = self._signed(choice, shaped.body)
            if job.view.stream:
                first_s = min(timeouts.ttft_s, remaining)
                return await self._open_stream(job, choice, adm, (shaped.body, signed), t0, first_s)
            async with asyncio.timeout(min(timeouts.total_s, remaining)):
                r = await self.pool.post(choice.endpoint, shaped.body, signed, connect_s=timeouts.connect_s)
                try:
                    data = await r.read()
                except BaseException:
                    r.close()
                    raise
            status, headers = r.status, r.headers
        except OSError as e:  # TimeoutError and connection errors
            return await self._failed(job, choice, adm, upstream.transport_failure(e), t0)
        finally:
            job.upstream_s += time.perf_counter() - t0
        if choice.vendor.map_reply is not None and status < 300:
            data = choice.vendor.map_reply(data)
        outcome, view = compat.classify_reply(choice.vendor, status, headers, data, self.clock())
        if not outcome.ok:
            return await self._failed(job, choice, adm, outcome, t0)
        ms = (time.perf_counter() - t0) * 1000
        job.usage = view.usage if view is not None else None
        await self._settle(choice, adm, _total(job.usage), "ok", ms)
        self._book(job, choice)
        job.add(choice, "ok", status, ms)
        return Reply(status, data)

    def _shape(self, job: Job, choice: Choice) -> compat.Shaped:
        body = dict(job.body)
        if job.route.kind == "embeddings":
            return compat.shape_embeddings(body, choice.model)
        shaped = compat.shape_chat(choice.vendor, body, job.view, choice.model, choice.info)
        if choice.vendor.map_request is not None:
            shaped.body = choice.vendor.map_request(shaped.body)
        return shaped

    def _signed(self, choice: Choice, body: bytes) -> Mapping[str, str] | None:
        """Per-request auth headers for vendors that sign each request (else they are in the endpoint)."""
        if choice.vendor.sign is None:
            return None
        key = choice.provider.api_key.reveal() if choice.provider.api_key else ""
        signed = choice.vendor.sign(key, body, choice.provider.extra, self.clock())
        if not any(k.lower() == "content-type" for k in signed):
            signed = {"Content-Type": "application/json", **signed}
        return signed

    async def _open_stream(
        self,
        job: Job,
        choice: Choice,
        adm: Admission,
        request: tuple[bytes, Mapping[str, str] | None],
        t0: float,
        first_s: float,
    ) -> Stream | Outcome:
        """Send, then wait (within ``first_s``) for the first event; any failure so far can fail over."""
        timeouts = self.cfg.provider_timeouts(choice.provider)
        async with asyncio.timeout(first_s):
            resp = await self.pool.post(choice.endpoint, *request, connect_s=timeouts.connect_s)
        # An error status, or a JSON body answering a stream request (an error at HTTP 200: Spark,
        # MiniMax, Hunyuan), is read whole and classified like a non-stream reply.
        if resp.status >= 300 or resp.headers.get("content-type", "").startswith("application/json"):
            try:
                async with asyncio.timeout(max(0.001, first_s - (time.perf_counter() - t0))):
                    data = await resp.read()
            finally:
                resp.release()
            outcome, _ = compat.classify_reply(choice.vendor, resp.status, resp.headers, data, self.clock())
            if outcome.ok:
                outcome = Outcome(
                    failure=Failure.MALFORMED_RESPONSE, status=resp.status, message="JSON reply to a stream"
                )
            return await self._failed(job, choice, adm, outcome, t0)
        reader = upstream.SSEReader(resp)
        try:
            first = await reader.next(max(0.001, first_s - (time.perf_counter() - t0)))
        except BaseException:
            resp.close()
            raise
        outcome = Outcome(failure=Failure.MALFORMED_RESPONSE, message="stream ended before its first event")
        if first is not None and first != upstream.DONE:
            first = _mapped(choice.vendor.map_chunk, first)
            outcome, _ = compat.classify_chunk(choice.vendor, first, self.clock())
        if not outcome.ok:
            resp.close()
            return await self._failed(job, choice, adm, outcome, t0)
        hide = choice.vendor.quirks.stream_usage_option and not job.view.include_usage
        return Stream(choice, adm, resp, reader, first or b"", t0, hide)

    async def _failed(self, job: Job, choice: Choice, adm: Admission, outcome: Outcome, t0: float) -> Outcome:
        ms = (time.perf_counter() - t0) * 1000
        failure = outcome.failure or Failure.UPSTREAM_ERROR
        rule = job.route.failover.classes.get(failure, ClassPolicy())
        await self._settle(choice, adm, 0, "fail" if rule.breaker else "neutral", ms)
        await self._consequence(choice, outcome, rule)
        job.add(choice, failure.value, outcome.status, ms)
        log.info(
            "upstream_failed",
            request_id=job.request_id,
            provider=choice.provider_name,
            model=choice.model,
            failure=failure.value,
            status=outcome.status,
            code=outcome.code,
            message=outcome.message[:200],
        )
        return outcome

    async def _settle(self, choice: Choice, adm: Admission, tokens: int, verdict: Verdict, ms: float) -> None:
        await self.store.settle(adm, tokens, verdict, ms, self.cfg.breaker, self.clock())

    def _book(self, job: Job, choice: Choice) -> None:
        u = job.usage
        if self.ledger is not None and u is not None:
            charge = Charge(
                choice.provider_name, choice.model, job.route.name, u.prompt_tokens, u.completion_tokens,
                u.cached_tokens, job.usage_estimated,
            )  # fmt: skip
            self.ledger.book(charge, self.clock())

    async def _consequence(self, choice: Choice, outcome: Outcome, rule: ClassPolicy) -> None:
        if rule.cooldown_s <= 0 and outcome.retry_after_s is None:
            return
        seconds = outcome.reset_after_s if rule.disable and outcome.reset_after_s else rule.cooldown_s
        if outcome.retry_after_s is not None and not rule.disable:
            seconds = max(seconds, outcome.retry_after_s)
        key = choice.provider_name if rule.scope == "provider" else f"{choice.provider_name}/{choice.model}"
        now = self.clock()
        failure = (outcome.failure or Failure.UPSTREAM_ERROR).value
        until = await self.store.cool_down(key, now + seconds, failure, now)
        log.info("cooldown", key=key, reason=failure, seconds=round(until - now, 3))

    def _exhausted(self, job: Job, last: Outcome | None, soonest: float | None) -> GatewayError:
        if last is None:
            wait = max(1, round((soonest or self.clock() + 1) - self.clock())) if soonest else 1
            return GatewayError(
                503,
                f"No provider of route '{job.route.name}' can take this request now "
                f"(all are cooling down, rate-limited or unhealthy); retry in about {wait}s.",
                type="service_unavailable",
                code="no_capacity",
                headers={"Retry-After": str(wait)},
            )
        failure = last.failure or Failure.UPSTREAM_ERROR
        status, type_ = CLIENT_FACING[failure]
        return GatewayError(
            status,
            f"All {job.tries} attempt(s) for route '{job.route.name}' failed; the last one: "
            f"{failure.value} ({last.message or last.code or 'no detail'}).",
            type=type_,
            code=failure.value,
        )

    # ---- streams after the first event ---------------------------------------------------------

    async def pump(self, job: Job, s: Stream, write: Callable[[bytes], Awaitable[None]]) -> Outcome:
        """Forward the stream chunk by chunk; end it with ``[DONE]`` or an error event. Returns how it ended."""
        timeouts = self.cfg.provider_timeouts(s.choice.provider)
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
                result, view = compat.classify_chunk(vendor, payload, self.clock())
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
                payload, outcome = await self._next(s, timeouts.idle_s, end, finished)
            if outcome is None:  # unreachable: every exit from the loop sets it
                outcome = Outcome(failure=Failure.CONNECTION_ERROR, code="stream_lost")
            if outcome.ok:
                await write(b"data: [DONE]\n\n")
            else:
                await write(self._error_event(s, outcome))
        finally:
            if outcome is not None and outcome.ok:
                await _drain(s)
            s.resp.release()
            await self._end_stream(job, s, outcome, streamed, ttft)
        return outcome

    @staticmethod
    def _error_event(s: Stream, o: Outcome) -> bytes:
        failure = o.failure or Failure.UPSTREAM_ERROR
        _, type_ = CLIENT_FACING[failure]
        return error_event(
            f"The upstream stream from '{s.choice.provider_name}' failed mid-answer: "
            f"{failure.value} ({o.message or o.code}).",
            type_,
            o.code or None,
        )

    async def _next(self, s: Stream, idle_s: float, end: float, finished: bool) -> tuple[bytes | None, Outcome | None]:
        now = time.perf_counter()
        try:
            payload = await s.reader.next(max(0.001, min(idle_s, end - now)))
        except TimeoutError:
            msg = "the stream stalled" if time.perf_counter() < end else "the stream exceeded its total time"
            return None, Outcome(failure=Failure.TIMEOUT, code="stream_timeout", message=msg)
        except OSError as e:
            return None, upstream.transport_failure(e)
        if payload is not None:
            return payload if payload == upstream.DONE else _mapped(s.choice.vendor.map_chunk, payload), None
        if finished and not s.choice.vendor.quirks.sends_done:
            return None, Outcome()  # this vendor ends with a finish_reason, not [DONE]
        return None, Outcome(
            failure=Failure.CONNECTION_ERROR, code="stream_truncated", message="the stream ended before completion"
        )

    async def _end_stream(self, job: Job, s: Stream, outcome: Outcome | None, streamed: int, ttft: float) -> None:
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
        self._book(job, choice)  # the vendor bills what it streamed, however the stream ended
        if outcome is None:  # the client went away (cancelled): neither the provider's fault nor a success
            await self._settle(choice, s.adm, _total(job.usage), "neutral", ms)
            job.add(choice, "client_disconnected", 200, ms, ttft)
            return
        if outcome.ok:
            await self._settle(choice, s.adm, _total(job.usage), "ok", ms)
            job.add(choice, "ok", 200, ms, ttft)
            return
        failure = outcome.failure or Failure.UPSTREAM_ERROR
        rule = job.route.failover.classes.get(failure, ClassPolicy())
        await self._settle(choice, s.adm, _total(job.usage), "fail" if rule.breaker else "neutral", ms)
        cooldown = max(rule.cooldown_s, job.route.failover.mid_stream_cooldown_s)
        await self._consequence(choice, outcome, msgspec.structs.replace(rule, cooldown_s=cooldown))
        job.add(choice, failure.value, 200, ms, ttft)
        log.info(
            "stream_failed",
            request_id=job.request_id,
            provider=choice.provider_name,
            failure=failure.value,
            message=outcome.message[:200],
        )


def _mapped(hook: BytesMap | None, payload: bytes) -> bytes:
    return payload if hook is None else hook(payload)


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


def _total(usage: wire.Usage | None) -> int:
    if usage is None:
        return 0
    return usage.total_tokens or usage.prompt_tokens + usage.completion_tokens


def estimate_tokens(view: wire.RequestView, choice: Choice) -> int:
    """Tokens to reserve against TPM before the reply says: the prompt (≈ bytes / 3, erring high for
    CJK text) plus the completion budget. Settled to the real figure when the reply arrives."""
    completion = view.max_tokens or (choice.info.max_output if choice.info and choice.info.max_output else 1024)
    return view.size_bytes // 3 + min(completion, 4096) * view.n


def _client_error(failure: Failure, outcome: Outcome, choice: Choice) -> GatewayError:
    status, type_ = CLIENT_FACING[failure]
    detail = outcome.message or outcome.code or failure.value
    return GatewayError(
        status if failure is not Failure.BAD_REQUEST or outcome.status < 400 else min(outcome.status, 499),
        f"{choice.vendor.title} rejected the request ({failure.value}): {detail}",
        type=type_,
        code=outcome.code or failure.value,
    )
