"""The config's failover sections: ``failover:`` (and a route's own), its failure classes, and ``breaker:``.

What each failure class does by default is :func:`default_classes`; the classes themselves are
:class:`balancer.errors.Failure`, applied by :mod:`balancer.attempt` and :mod:`balancer.failover`.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from balancer.errors import Failure


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class ClassPolicy(_Strict, frozen=True):
    """What one failure class does to the request and to the candidate that failed."""

    failover: bool | Literal["larger_context"] = True
    cooldown_s: float = 0.0  # minimum cooldown; Retry-After may lengthen it, never shorten
    scope: Literal["candidate", "provider"] = "candidate"
    breaker: bool = False  # counts toward the circuit breaker
    disable: bool = False  # out until a balance refresh / quota reset / config reload


def default_classes() -> dict[Failure, ClassPolicy]:
    return {
        Failure.RATE_LIMITED: ClassPolicy(cooldown_s=5.0),
        Failure.QUOTA_EXHAUSTED: ClassPolicy(scope="provider", disable=True, cooldown_s=3600.0),
        Failure.AUTH_FAILED: ClassPolicy(scope="provider", disable=True, cooldown_s=86400.0),
        Failure.MODEL_UNAVAILABLE: ClassPolicy(cooldown_s=3600.0),  # that model on that account only
        Failure.BAD_REQUEST: ClassPolicy(failover=False),
        Failure.UNSUPPORTED: ClassPolicy(),  # fails over; no cooldown, not a health signal
        Failure.CONTEXT_LENGTH: ClassPolicy(failover="larger_context"),
        Failure.CONTENT_FILTERED: ClassPolicy(failover=False),
        Failure.UPSTREAM_ERROR: ClassPolicy(breaker=True),
        Failure.TIMEOUT: ClassPolicy(breaker=True),
        Failure.CONNECTION_ERROR: ClassPolicy(breaker=True),
        Failure.MALFORMED_RESPONSE: ClassPolicy(breaker=True),
    }


class Breaker(_Strict, frozen=True):
    window_s: float = 30.0
    min_requests: int = 10  # error-rate rule needs this many outcomes in the window
    error_rate: float = 0.5
    consecutive_failures: int = 5
    open_s: float = 15.0  # first open period; doubles on a failed probe, up to max_open_s
    max_open_s: float = 300.0
    half_open_probes: int = 1


class Failover(_Strict, frozen=True):
    max_attempts: int = 3
    deadline_s: float = 120.0
    # A stream dying after its first byte cost the client an answer: its candidate cools down at least this long.
    mid_stream_cooldown_s: float = 30.0
    # The longest cooldown a vendor's Retry-After (or x-ratelimit-reset) may ask for; longer is capped and logged.
    max_retry_after_s: float = 300.0
    classes: dict[Failure, ClassPolicy] = msgspec.field(default_factory=default_classes)
