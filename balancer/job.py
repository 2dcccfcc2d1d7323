"""A client request on its way through the gateway, and what its attempts hand back.

Plain data shared by the request path: :class:`Job` (built by the API, carried through the attempt loop,
read back for the response headers and the ``request_done`` line), the :class:`Attempt` records in it,
and the two ways an attempt succeeds: a whole :class:`Reply`, or an open :class:`Stream` whose first
event is in hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from balancer import http, logs, replies, upstream, wire
from balancer.capture import StreamAssembler
from balancer.credit.ledger import Cost
from balancer.routes import Choice, CompiledRoute
from balancer.state import Admission

log = structlog.get_logger("balancer.job")

Clock = Callable[[], float]


class ClientGone(Exception):
    """The client closed its connection (or stopped reading) before its answer was complete."""


@dataclass(slots=True)
class Attempt:
    """One candidate tried (or skipped) for a request, as the ``request_done`` line shows it."""

    provider: str
    model: str
    result: str  # "ok", a failure class, "client_disconnected" or "skipped:<reason>"
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
    usage: replies.Usage | None = None
    usage_estimated: bool = False
    served_by: Choice | None = None
    tries: int = 0  # upstream calls made (skipped candidates are not tries)
    assembler: StreamAssembler | None = None  # set when this request's transcript is captured
    adjustments: list[str] = field(default_factory=list)  # what a vendor quirk changed in the request
    cost: Cost | None = None  # what the served attempt cost at list price, by who paid (the ledger's booking)
    client: str = ""  # the client key's name (booked with every charge)
    key_admission: Admission | None = None  # the request reserved against its client key's limits

    def add(self, choice: Choice, result: str, status: int = 0, ms: float = 0.0, ttft_ms: float | None = None) -> None:
        """Record one attempt (or skipped candidate) for the request_done line; a debug line each."""
        attempt = Attempt(choice.provider_name, choice.model, result, status, ms, ttft_ms)
        self.attempts.append(attempt)
        if logs.debug():
            log.debug("attempt", request_id=self.request_id, **attempt.as_log())


@dataclass(slots=True)
class Reply:
    """A whole answer, already settled and booked."""

    status: int
    body: bytes


@dataclass(slots=True)
class Stream:
    """An open upstream stream whose first event is in hand (and classified: ``first_view``); still reserved
    against its candidate until :meth:`balancer.attempt.Caller.end` settles it."""

    choice: Choice
    adm: Admission
    resp: http.Response
    reader: upstream.SSEReader
    first: bytes  # the first payload, already mapped to OpenAI's shape; b"" when it was [DONE]
    first_view: replies.ReplyView | None
    started: float  # perf_counter time the attempt started
    hide_usage_chunk: bool  # the usage chunk was asked for by the gateway, not the client
