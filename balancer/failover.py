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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog

from balancer import http, router, upstream, wire
from balancer.capture import StreamAssembler
from balancer.config import ClassPolicy, Config
from balancer.errors import CLIENT_FACING, Failure, GatewayError, Outcome
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
            await self.settle(choice, adm, 0, "neutral", 0.0)
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
        await self.settle(choice, adm, usage_total(job.usage), "ok", ms)
        self.book(job, choice)
        job.add(choice, "ok", status, ms)
        rest = compat.exhausted_for(headers)
        if rest is not None:  # a limit the vendor reported: rest the account until its window resets
            now = self.clock()
            await self.store.cool_down(choice.provider_name, now + min(rest, 3600.0), "rate_limited", now)
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
            first = mapped_chunk(choice.vendor.map_chunk, first)
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
        await self.settle(choice, adm, 0, "fail" if rule.breaker else "neutral", ms)
        await self.consequence(choice, outcome, rule)
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

    async def settle(self, choice: Choice, adm: Admission, tokens: int, verdict: Verdict, ms: float) -> None:
        await self.store.settle(adm, tokens, verdict, ms, self.cfg.breaker, self.clock())

    def book(self, job: Job, choice: Choice) -> None:
        u = job.usage
        if self.ledger is not None and u is not None:
            charge = Charge(
                choice.provider_name, choice.model, job.route.name, u.prompt_tokens, u.completion_tokens,
                u.cached_tokens, job.usage_estimated,
            )  # fmt: skip
            self.ledger.book(charge, self.clock())

    async def consequence(self, choice: Choice, outcome: Outcome, rule: ClassPolicy) -> None:
        if rule.cooldown_s <= 0 and outcome.retry_after_s is None:
            return
        seconds = outcome.reset_after_s if rule.disable and outcome.reset_after_s else rule.cooldown_s
        if outcome.retry_after_s is not None and not rule.disable:
            seconds = max(seconds, outcome.retry_after_s)
        key = choice.provider_name if rule.scope == "provider" else f"{choice.provider_name}/{choice.model}"
        now = self.clock()
        failure = (outcome.failure or Failure.UPSTREAM_ERROR).value
        until = await self.store.cool_down(key, now + seconds, failure, now)
        log.info("cooldown", target=key, reason=failure, seconds=round(until - now, 3))

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


def mapped_chunk(hook: BytesMap | None, payload: bytes) -> bytes:
    return payload if hook is None else hook(payload)


def usage_total(usage: wire.Usage | None) -> int:
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
