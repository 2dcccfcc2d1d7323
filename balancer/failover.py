"""The attempt loop: try a route's candidates in order until one answers, within an attempt budget and a deadline.

The router orders the healthy candidates; each is tried by :class:`balancer.attempt.Caller` (which settles,
books and logs every attempt); a failure's class decides whether the next candidate is tried (rate limits,
outages and timeouts fail over; a bad request goes back to the client at once; a context overflow moves on
only to a larger window). Streams fail over like any request until their first event is in hand; from then
on the stream belongs to the client, and :func:`balancer.streams.pump` ends it honestly.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from balancer import http, router
from balancer.attempt import Booked, Caller, Drain, Skip, estimate_tokens
from balancer.config import Config
from balancer.config_failover import ClassPolicy
from balancer.credit.ledger import Ledger
from balancer.credit.plan import Plan
from balancer.errors import CLIENT_FACING, Failure, GatewayError, Outcome
from balancer.job import ClientGone, Clock, Job, Reply, Stream
from balancer.refusals import Refusals
from balancer.routes import Choice
from balancer.state import StateStore
from balancer.vendors import shaping


class Engine:
    def __init__(
        self,
        cfg: Config,
        store: StateStore,
        pool: http.Pool,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        ledger: Ledger | None = None,
        plan: Callable[[], Plan | None] = lambda: None,
        drain: Drain | None = None,
        booked: Booked | None = None,
    ) -> None:
        self.caller = Caller(cfg, store, pool, clock, ledger, drain or Drain(), booked)
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.plan = plan

    async def serve(self, job: Job) -> Reply | Stream:
        """The first answer a candidate gives; GatewayError when none can (the last failure, or no capacity)."""
        policy = job.route.failover
        plan, tokens = self.plan(), estimate_tokens(job)
        ordered, soonest = router.order(job.route, self.store, self.clock(), self.rng, job.strategy, plan, tokens)
        last: Outcome | None = None
        unsupported = False  # a candidate was skipped for a field it cannot honour
        for choice in ordered:
            if job.tries >= policy.max_attempts or time.perf_counter() >= job.deadline:
                break
            if job.client_gone():
                raise ClientGone("the client closed the connection before an answer")
            if self.caller.drain.expired:
                raise GatewayError(
                    503, "The gateway is shutting down; retry the request.", type="service_unavailable",
                    code="gateway_shutdown",
                )  # fmt: skip
            if job.min_context and (choice.context_window or 0) <= job.min_context:
                job.add(choice, "skipped:context_window")
                continue
            result = await self.caller.call(job, choice)
            if isinstance(result, Skip):
                unsupported = unsupported or result.unsupported is not None or result.refused is not None
                if result.retry_at is not None:
                    soonest = result.retry_at if soonest is None else min(soonest, result.retry_at)
                continue
            if not isinstance(result, Outcome):
                job.served_by = choice
                return result
            last = result
            failure = result.failure or Failure.UPSTREAM_ERROR
            rule = policy.classes.get(failure, ClassPolicy())
            if rule.failover is False:
                raise _client_error(failure, result, choice)
            if rule.failover == "larger_context":
                job.min_context = max(job.min_context, choice.context_window or 1)
        raise self._exhausted(job, last, soonest, unsupported)

    def _exhausted(self, job: Job, last: Outcome | None, soonest: float | None, unsupported: bool) -> GatewayError:
        if last is None:
            refused = _refused(job, self.caller.refusals, self.clock()) if unsupported else None
            if refused is not None:
                return refused
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
            f"{failure.value} ({last.detail()}).",
            type=type_,
            code=failure.value,
            headers=self._retry_after(job) if status in (429, 503) else None,
        )

    def _retry_after(self, job: Job) -> dict[str, str]:
        """When a retry may find a candidate again: the soonest end of the route's cooldowns (the failures just
        set them), at least 1 s; 1 s when none is cooling down (SDKs honour it for 429 and 503)."""
        now = self.clock()
        ends = [
            h.until for c in job.route.choices if not (h := self.store.health(c.provider_name, c.model, now)).available
        ]
        wait = max(1, round(min(ends) - now)) if ends else 1
        return {"Retry-After": str(wait)}


def _refused(job: Job, learned: Refusals, now: float) -> GatewayError | None:
    """A 400 naming the field when no candidate of the route could take the request as it is: each cannot honour
    a field, or refused this value of one within the hour (:mod:`balancer.refusals`). Cooling ones count: one
    that could is worth a retry, and the answer is then 503."""
    reasons = [_reason(job, c, learned, now) for c in job.route.choices]
    if not reasons or any(r is None for r in reasons):
        return None
    first = reasons[0]
    assert first is not None
    why = "; ".join(dict.fromkeys(str(r) for r in reasons))
    return GatewayError(
        400,
        f"No candidate of route '{job.route.name}' can honour '{first.param}': {why}.",
        code=first.code,
        param=first.param,
    )


def _reason(job: Job, c: Choice, learned: Refusals, now: float) -> shaping.Unsupported | None:
    """Why this candidate cannot take the request: a field it cannot honour, or a value it refused before."""
    static = shaping.refusal(c.vendor, job.view, c.model, c.info)
    if static is not None:
        return static
    no = learned.refused(c.provider_name, c.model, job.body.get, now)
    if no is None:
        return None
    said = f"{c.vendor.name} model '{c.model}' refused this '{no.field}': {no.message}"
    return shaping.Unsupported(said, no.field, Failure.UNSUPPORTED.value)


def _client_error(failure: Failure, outcome: Outcome, choice: Choice) -> GatewayError:
    status, type_ = CLIENT_FACING[failure]
    detail = outcome.message or outcome.code or failure.value
    return GatewayError(
        status if failure is not Failure.BAD_REQUEST or outcome.status < 400 else min(outcome.status, 499),
        f"{choice.vendor.title} rejected the request ({failure.value}): {detail}",
        type=type_,
        code=outcome.code or failure.value,
    )
