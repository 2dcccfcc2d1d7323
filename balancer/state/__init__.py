"""The state-store interface: quotas, breakers, cooldowns and latency, shared by gateway instances.

One Protocol, two stores (``memory`` here, ``redis`` for many instances). Every mutation is one
atomic operation in the store (a Lua script in Redis); there is no read-modify-write in callers.
Time is passed in (``now``, seconds) so tests drive a virtual clock and never sleep.

Hot path per attempt: ``health`` (local, no I/O) → ``admit`` (the one atomic call) → upstream →
``settle`` (batched by stores that can). ``cool_down``/``clear`` run only when things fail or recover.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import msgspec

from balancer.config import Limits
from balancer.config_failover import Breaker

Verdict = Literal["ok", "fail", "neutral"]


class Admission(msgspec.Struct, kw_only=True):
    """The answer to "may this candidate take one more request now?" and, if so, its reservation."""

    ok: bool
    provider: str = ""
    key: str = ""
    reason: str = ""  # why not: cooldown:<class>, breaker_open, concurrency, rpm, tpm
    retry_at: float = 0.0  # when it may be worth asking again
    probe: bool = False  # a half-open breaker's trial request
    tokens: int = 0  # TPM tokens reserved
    window: int = 0  # the minute window the reservation was taken in
    ticket: str = ""  # a shared concurrency reservation to release (Redis store)


class Quota(msgspec.Struct, kw_only=True):
    """An account's current minute against its limits, and its requests in flight (operators' view)."""

    requests: int = 0
    tokens: int = 0
    in_flight: int = 0


class Health(msgspec.Struct, kw_only=True):
    available: bool
    reason: str = ""
    until: float = 0.0
    latency_ms: float | None = None  # EWMA of successful attempts


def candidate_key(provider: str, model: str) -> str:
    return f"{provider}/{model}"


class StateStore(Protocol):
    name: str  # "memory" or "redis"
    # Times the store lost its shared backend and went on serving from local state (0 for memory).
    degraded_events: int

    @property
    def redis(self) -> Any:
        """The shared Redis client, through which other shared books (the ledger) write; None in memory."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def status(self) -> str:
        """``ok`` or ``degraded`` (serving on local state)."""
        ...

    def health(self, provider: str, model: str, now: float) -> Health:
        """A local, possibly slightly stale view (bounded staleness, no I/O) for ordering candidates."""
        ...

    async def admit(
        self, provider: str, model: str, limits: Limits, tokens: int, breaker: Breaker, now: float
    ) -> Admission:
        """Atomically check cooldowns, breaker and limits, and reserve one request and ``tokens``."""
        ...

    async def settle(
        self, adm: Admission, tokens_used: int, verdict: Verdict, latency_ms: float, breaker: Breaker, now: float
    ) -> None:
        """Release the reservation, book the real tokens, feed the breaker and latency statistics.

        ``verdict``: ``ok`` (closes a half-open breaker, updates latency), ``fail`` (counts toward the
        breaker) or ``neutral`` (a failure that says nothing about health, e.g. a rate limit)."""
        ...

    async def cool_down(self, key: str, until: float, reason: str, now: float) -> float:
        """Keep ``key`` (a provider, or ``provider/model``) out until ``until``; never shortens an
        existing cooldown. Returns the cooldown in force."""
        ...

    async def clear(self, key: str, reason_prefix: str) -> None:
        """End a cooldown early when its reason starts with ``reason_prefix`` (e.g. a balance refresh
        showing funds ends a ``quota_exhausted`` disable)."""
        ...

    # ---- the operator's view (admin API, metrics; never on the request path) ----------------------------

    def cooldown(self, key: str, now: float) -> tuple[float, str] | None:
        """The cooldown in force on ``key`` (a provider, or ``provider/model``): (until, reason), or None."""
        ...

    async def quota(self, provider: str, now: float) -> Quota:
        """This minute's requests and tokens taken against an account's limits, and its requests in flight
        (with Redis: what the instances leased, cluster-wide: an upper bound of what they used)."""
        ...

    async def reset_breaker(self, key: str) -> None:
        """Close the breaker of ``provider/model`` now (an operator's decision), on every instance."""
        ...
