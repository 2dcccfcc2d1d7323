"""One attempt at one candidate, start to end: shape → admit → send → classify → settle → consequence → log.

:meth:`Caller.call` runs an attempt until it has an answer: a whole reply (settled and booked here), a
failure (settled, its class's consequence applied, logged) or an open stream whose first event is in hand.
An open stream comes back through :meth:`Caller.end` when :mod:`balancer.streams` has finished relaying it,
however it ended: every attempt, plain or streamed, is settled, booked and logged by the same code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import msgspec
import structlog

from balancer import http, replies, shapes, upstream
from balancer.config import Config
from balancer.config_failover import ClassPolicy
from balancer.credit.ledger import Charge, Cost, Ledger
from balancer.errors import Failure, Outcome
from balancer.job import Clock, Job, Reply, Stream
from balancer.judging import Judge, mapped_chunk
from balancer.refusals import Refusal, Refusals
from balancer.routes import Choice
from balancer.secrets import Scrubber, secret_values
from balancer.state import Admission, StateStore, Verdict
from balancer.vendors import openai_compat as compat
from balancer.vendors import shaping

log = structlog.get_logger("balancer.attempt")

Booked = Callable[[str, Choice, Cost], None]  # told every booking: route, candidate, cost (the gateway's plan watch)


class Drain:
    """The gateway's shutdown, as the request path sees it: from :meth:`begin` on, what is in flight may finish
    until the deadline; then ``expired`` is set, ``cut`` closes every upstream connection (a stream ends with an
    error event, a call in flight fails) and no further candidate is tried."""

    def __init__(self) -> None:
        self.expired = False

    def begin(self, grace_s: float, cut: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_later(grace_s, self._expire, cut)

    def _expire(self, cut: Callable[[], None]) -> None:
        self.expired = True
        cut()


@dataclass(frozen=True, slots=True)
class Skip:
    """The candidate was not tried: it cannot take the request as asked, or the store did not admit it."""

    retry_at: float | None = None  # when it may be worth asking again (admission refusals)
    unsupported: shaping.Unsupported | None = None  # the field it cannot honour (answered if no candidate can)
    refused: Refusal | None = None  # it refused this field's value before (balancer.refusals)


class Caller:
    """Runs attempts against candidates; holds what every attempt needs (store, pool, clock, ledger)."""

    def __init__(
        self, cfg: Config, store: StateStore, pool: http.Pool, clock: Clock, ledger: Ledger | None, drain: Drain,
        booked: Booked | None = None,
    ) -> None:  # fmt: skip
        self.cfg = cfg
        self.booked = booked
        self.drain = drain
        self.store = store
        self.pool = pool
        self.clock = clock
        self.ledger = ledger
        # Every configured secret, scrubbed from an upstream failure's text (some proxies echo the request).
        self.scrub = Scrubber(set().union(*(secret_values(p.api_key, p.extra) for p in cfg.providers.values())))
        self.judge = Judge(self.scrub, clock)
        self.refusals = Refusals()

    async def call(self, job: Job, choice: Choice) -> Reply | Stream | Outcome | Skip:
        """One attempt: the reply, the open stream, the failure (already settled and logged) or a skip."""
        if self.refusals and (
            no := self.refusals.refused(choice.provider_name, choice.model, job.body.get, self.clock())
        ):
            job.add(choice, f"skipped:refused:{no.field}")
            return Skip(refused=no)
        try:
            shaped = self._shape(job, choice)
        except shaping.Unsupported as e:
            job.add(choice, f"skipped:unsupported:{e.param}")
            return Skip(unsupported=e)
        tokens = estimate_tokens(job, choice)
        adm = await self.store.admit(
            choice.provider_name, choice.model, choice.provider.limits, tokens, self.cfg.breaker, self.clock()
        )
        if not adm.ok:
            job.add(choice, f"skipped:{adm.reason}")
            return Skip(adm.retry_at)
        job.tries += 1
        if shaped.adjustments:
            job.adjustments = shaped.adjustments  # counted in request_done; detail at debug
            log.debug("request_shaped", provider=choice.provider_name, changes=shaped.adjustments)
        t0 = time.perf_counter()
        remaining = max(0.001, job.deadline - t0)
        timeouts = self.cfg.provider_timeouts(choice.provider)
        try:
            request = (shaped.body, self._signed(choice, shaped.body))
            if job.view.stream:
                return await self._open_stream(job, choice, adm, request, t0, min(timeouts.ttft_s, remaining))
            async with asyncio.timeout(min(timeouts.ttft_s, remaining)) as limit:  # the reply's head, as for a stream
                r = await self.pool.post(choice.endpoint, *request, connect_s=timeouts.connect_s)
                if not r.whole:  # the body is still coming: it gets what is left of total_s
                    body_s = min(timeouts.total_s, remaining) - (time.perf_counter() - t0)
                    limit.reschedule(asyncio.get_running_loop().time() + max(0.001, body_s))
                try:
                    data = await r.read()
                except BaseException:
                    r.close()
                    raise
        except OSError as e:  # TimeoutError and connection errors
            return await self._failed(job, choice, adm, upstream.transport_failure(e), t0)
        finally:
            job.upstream_s += time.perf_counter() - t0
        return await self._answered(job, choice, adm, (r.status, r.headers, data), t0)

    async def _answered(
        self, job: Job, choice: Choice, adm: Admission, reply: tuple[int, Mapping[str, str], bytes], t0: float
    ) -> Reply | Outcome:
        status, headers, data = reply
        mapped = mapped_chunk(choice.vendor.map_reply if status < 300 else None, data)
        if isinstance(mapped, Outcome):
            return await self._failed(job, choice, adm, mapped, t0)
        outcome, view = self.judge.reply(choice.vendor, status, headers, mapped)
        if not outcome.ok:
            return await self._failed(job, choice, adm, outcome, t0)
        estimate = self.take_usage(job, choice, view.usage if view is not None else None, len(mapped))
        if estimate is not None:  # the client reads what is booked, not a usage no client reads
            mapped = shapes.with_usage(mapped, estimate)
        if job.view.base64:  # embeddings the client asked as base64 (the vendor was asked for floats)
            mapped = mapped_chunk(shapes.embeddings_base64, mapped)
            if isinstance(mapped, Outcome):  # a vector of strings, or of numbers no float32 holds
                return await self._failed(job, choice, adm, mapped, t0)
        await self.end(job, choice, adm, outcome, status, t0, billed=True, answered=len(mapped))
        rest = compat.exhausted_for(headers)
        if rest is not None:  # a limit the vendor reported: rest the account until its window resets
            now = self.clock()
            rest = _capped(rest, job.route.failover.max_retry_after_s, choice, "x-ratelimit-reset")
            await self.store.cool_down(choice.provider_name, now + rest, "rate_limited", now)
        return Reply(status, mapped)

    def _shape(self, job: Job, choice: Choice) -> shaping.Shaped:
        body = dict(job.body)
        if job.route.kind == "embeddings":
            return shaping.shape_embeddings(body, choice.model)
        vendor = choice.vendor
        shaped = shaping.shape_chat(vendor, body, job.view, choice.model, choice.info)
        if vendor.map_request is not None:
            shaped.body = vendor.map_request(shaped.body)
            if vendor.native_fields:
                shaped.adjustments += [f"dropped {k}" for k in body if k not in vendor.native_fields]
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
            outcome, _ = self.judge.reply(choice.vendor, resp.status, resp.headers, data)
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
        view: replies.ReplyView | None = None
        if first is not None and first != upstream.DONE:
            first, outcome, view = self.judge.mapped(choice.vendor, first, reader.error)
        if not outcome.ok:
            resp.close()
            return await self._failed(job, choice, adm, outcome, t0)
        hide = choice.vendor.quirks.stream_usage_option and not job.view.include_usage
        return Stream(choice, adm, resp, reader, first or b"", view, t0, hide)

    async def _failed(self, job: Job, choice: Choice, adm: Admission, outcome: Outcome, t0: float) -> Outcome:
        raw = job.body.get(outcome.about) if outcome.failure is Failure.UNSUPPORTED and outcome.about else None
        if raw is not None:
            self.refusals.remember(
                choice.provider_name, choice.model, outcome.about, raw, outcome.detail(), self.clock()
            )
        await self.end(job, choice, adm, outcome, outcome.status, t0)
        return outcome

    async def end(
        self,
        job: Job,
        choice: Choice,
        adm: Admission,
        outcome: Outcome | None,
        status: int,
        t0: float,
        *,
        billed: bool = False,
        answered: int = 0,
        ttft_ms: float | None = None,
        mid_stream: bool = False,
        cut_by: str = "client_disconnected",
    ) -> None:
        """Close an attempt: settle its reservation, apply its failure class's consequence, book what the vendor
        bills (``billed``: ``job.usage`` (:meth:`take_usage`), else an estimate from the ``answered`` bytes), record it
        on the job and log a failure. ``outcome`` None: the attempt was cut by our side, not the
        candidate (``cut_by`` says how: the client went away, the gateway shut down). ``mid_stream``: a stream
        that failed after its first event cools its candidate down at least ``failover.mid_stream_cooldown_s``."""
        # What must never be lost happens first, without awaiting: the booking and the attempt's record.
        ms = (time.perf_counter() - t0) * 1000
        if billed:
            if job.usage is None:  # none reported (a cut stream, a reply without usage): booked on an estimate
                job.usage, job.usage_estimated = estimated_usage(job, answered), True
            self.book(job, choice)
        tokens = usage_total(job.usage) if billed else 0
        if outcome is None or outcome.ok:  # cut by our side (neutral), or served
            job.add(choice, cut_by if outcome is None else "ok", status, ms, ttft_ms)
            await self._settle(adm, tokens, "neutral" if outcome is None else "ok", ms)
            return
        failure = outcome.failure or Failure.UPSTREAM_ERROR
        job.add(choice, failure.value, status, ms, ttft_ms)
        rule = job.route.failover.classes.get(failure, ClassPolicy())
        log.info(
            "stream_failed" if mid_stream else "upstream_failed",
            request_id=job.request_id,
            provider=choice.provider_name,
            model=choice.model,
            failure=failure.value,
            status=outcome.status,
            code=outcome.code,
            message=outcome.message[:200],
        )
        await self._settle(adm, tokens, "fail" if rule.breaker else "neutral", ms)
        if mid_stream:
            cooldown = max(rule.cooldown_s, job.route.failover.mid_stream_cooldown_s)
            rule = msgspec.structs.replace(rule, cooldown_s=cooldown)
        await self.consequence(choice, outcome, rule, job.route.failover.max_retry_after_s)

    async def _settle(self, adm: Admission, tokens: int, verdict: Verdict, ms: float) -> None:
        await self.store.settle(adm, tokens, verdict, ms, self.cfg.breaker, self.clock())

    def take_usage(self, job: Job, choice: Choice, usage: replies.Usage | None, answered: int) -> replies.Usage | None:
        """Take the usage a served reply (or a stream chunk) reports as what is booked: ``job.usage``. One with a count
        that is no token count (below 0, beyond 2**32, unreadable: :func:`balancer.replies.unreadable`) is booked as
        an estimate from the ``answered`` bytes instead (marked), and logged as a warning naming the count (never a
        huge value) when the request's usage turns unreadable. Returns that estimate, which the reply or chunk must
        carry to the client in place of its usage; None for usage that is token counts, or none."""
        bad = None if usage is None else replies.unreadable(usage)
        if bad is None:
            job.usage, job.usage_estimated = usage, False
            return None
        if not job.usage_estimated:
            log.warning(
                "usage_unreadable", request_id=job.request_id, provider=choice.provider_name, model=choice.model,
                count=bad[0], reason=bad[1],
            )  # fmt: skip
        job.usage, job.usage_estimated = estimated_usage(job, answered), True
        return job.usage

    def book(self, job: Job, choice: Choice) -> None:
        u = job.usage
        if self.ledger is not None and u is not None:
            charge = Charge(
                choice.provider_name, choice.model, job.route.name, u.prompt_tokens, u.completion_tokens,
                u.cached_tokens, job.usage_estimated, client=job.client,
            )  # fmt: skip
            job.cost = self.ledger.book(charge, self.clock())
            if self.booked is not None:
                self.booked(job.route.name, choice, job.cost)

    async def consequence(self, choice: Choice, outcome: Outcome, rule: ClassPolicy, max_wait_s: float) -> None:
        """Cool down (or disable) the candidate or its provider as the failure class says; a vendor's
        ``Retry-After`` may lengthen the cooldown, up to ``max_wait_s``."""
        if rule.cooldown_s <= 0 and outcome.retry_after_s is None:
            return
        seconds = outcome.reset_after_s if rule.disable and outcome.reset_after_s else rule.cooldown_s
        if outcome.retry_after_s is not None and not rule.disable:
            seconds = max(seconds, _capped(outcome.retry_after_s, max_wait_s, choice, "retry-after"))
        key = choice.provider_name if rule.scope == "provider" else f"{choice.provider_name}/{choice.model}"
        now = self.clock()
        failure = (outcome.failure or Failure.UPSTREAM_ERROR).value
        before = self.store.cooldown(key, now)
        until = await self.store.cool_down(key, now + seconds, failure, now)
        if rule.disable and (before is None or before[1] != failure):  # once, when an account goes out
            log.warning(
                "provider_disabled", target=key, reason=failure, seconds=round(until - now, 3),
                message=outcome.message[:200],
            )  # fmt: skip
        else:
            log.info("cooldown", target=key, reason=failure, seconds=round(until - now, 3))


def _capped(wait_s: float, cap_s: float, choice: Choice, header: str) -> float:
    """A wait a vendor asked for, at most ``cap_s`` (one bad header must not bench an account for a year)."""
    if wait_s <= cap_s:
        return wait_s
    log.warning("retry_after_capped", provider=choice.provider_name, header=header, asked_s=wait_s, capped_s=cap_s)
    return cap_s


def estimated_usage(job: Job, answered: int) -> replies.Usage:
    """What a served attempt that reported no usable usage is billed (marked as an estimate): the prompt ≈ the
    request's bytes / 3, the completion ≈ the ``answered`` bytes (the reply, or the stream's payloads) / 12; none
    for embeddings."""
    prompt = job.view.size_bytes // 3
    completion = answered // 12 if job.route.kind == "chat" else 0
    return replies.Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def usage_total(usage: replies.Usage | None) -> int:
    if usage is None:
        return 0
    return usage.total_tokens or usage.prompt_tokens + usage.completion_tokens


def estimate_tokens(job: Job, choice: Choice | None = None) -> int:
    """Tokens to reserve against TPM before the reply says: the prompt (≈ bytes / 3, erring high for
    CJK text) plus, for a chat route, the completion budget (the candidate's longest answer when the request
    sets none, else 1024; an embedding has no completion). Settled to the real figure when the reply arrives."""
    view = job.view
    if job.route.kind != "chat":
        return view.size_bytes // 3
    info = choice.info if choice is not None else None
    completion = view.max_tokens or (info.max_output if info and info.max_output else 1024)
    return view.size_bytes // 3 + min(completion, 4096) * view.n
