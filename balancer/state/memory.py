"""The in-process state store: one gateway instance, or tests. Same semantics as the Redis store."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from balancer.config import Limits
from balancer.config_failover import Breaker
from balancer.state import Admission, Health, Quota, Verdict, candidate_key

EWMA_ALPHA = 0.2


@dataclass(slots=True)
class _Cooldown:
    until: float
    reason: str


@dataclass(slots=True)
class _Usage:
    window: int = -1
    requests: int = 0
    tokens: int = 0
    in_flight: int = 0


@dataclass(slots=True)
class _Circuit:
    state: str = "closed"  # closed | open | half_open
    open_until: float = 0.0
    open_s: float = 0.0
    probes: int = 0
    consecutive: int = 0
    buckets: dict[int, list[int]] = field(default_factory=dict)  # bucket -> [ok, failed]
    totals: list[int] = field(default_factory=lambda: [0, 0])  # sums over buckets
    latency_ms: float | None = None


BUCKETS = 10


class MemoryStore:
    """In-process state: one gateway instance (and the base of the Redis store's local view)."""

    name = "memory"
    degraded_events = 0  # never loses its backend
    redis: Any = None  # nothing shared

    def __init__(self) -> None:
        self._cool: dict[str, _Cooldown] = {}
        self._usage: dict[str, _Usage] = {}
        self._circ: dict[str, _Circuit] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def status(self) -> str:
        return "ok"

    def _cooldown(self, key: str, now: float) -> _Cooldown | None:
        c = self._cool.get(key)
        if c is not None and c.until <= now:
            del self._cool[key]
            return None
        return c

    def health(self, provider: str, model: str, now: float) -> Health:
        key = candidate_key(provider, model)
        circ = self._circ.get(key)
        latency = circ.latency_ms if circ else None
        for k in (provider, key):
            c = self._cooldown(k, now)
            if c is not None:
                return Health(available=False, reason=f"cooldown:{c.reason}", until=c.until, latency_ms=latency)
        if circ is not None and circ.state == "open" and circ.open_until > now:
            return Health(available=False, reason="breaker_open", until=circ.open_until, latency_ms=latency)
        return Health(available=True, latency_ms=latency)

    async def admit(
        self, provider: str, model: str, limits: Limits, tokens: int, breaker: Breaker, now: float
    ) -> Admission:
        key = candidate_key(provider, model)
        denied, probe = self.gate(provider, key, breaker, now)
        if denied is not None:
            return denied
        window = math.floor(now / 60.0)
        denied = self.local_quota(provider, limits, tokens, now)
        if denied is not None:
            return denied
        return self.admitted(provider, key, probe, tokens, window)

    def gate(self, provider: str, key: str, breaker: Breaker, now: float) -> tuple[Admission | None, bool]:
        """Cooldowns and the breaker: (a denial, or None) and whether this would be a half-open probe."""
        for k in (provider, key):
            c = self._cooldown(k, now)
            if c is not None:
                return Admission(ok=False, reason=f"cooldown:{c.reason}", retry_at=c.until), False
        circ = self._circ.setdefault(key, _Circuit())
        if circ.state == "open":
            if circ.open_until > now:
                return Admission(ok=False, reason="breaker_open", retry_at=circ.open_until), False
            circ.state, circ.probes = "half_open", 0
        if circ.state == "half_open":
            if circ.probes >= breaker.half_open_probes:
                return Admission(ok=False, reason="breaker_half_open", retry_at=now + 1.0), False
            return None, True
        return None, False

    def local_quota(self, provider: str, limits: Limits, tokens: int, now: float) -> Admission | None:
        """RPM/TPM/concurrency against this process's own counters; books the request when allowed."""
        u = self._usage.setdefault(provider, _Usage())
        window = math.floor(now / 60.0)
        if u.window != window:
            u.window, u.requests, u.tokens = window, 0, 0
        next_window = (window + 1) * 60.0
        if limits.concurrency and u.in_flight >= limits.concurrency:
            return Admission(ok=False, reason="concurrency", retry_at=now + 0.05)
        if limits.rpm and u.requests + 1 > limits.rpm:
            return Admission(ok=False, reason="rpm", retry_at=next_window)
        if limits.tpm and u.tokens + tokens > limits.tpm:
            return Admission(ok=False, reason="tpm", retry_at=next_window)
        u.in_flight += 1
        u.requests += 1
        u.tokens += tokens
        return None

    def admitted(self, provider: str, key: str, probe: bool, tokens: int, window: int) -> Admission:
        if probe:
            self._circ[key].probes += 1
        return Admission(ok=True, provider=provider, key=key, probe=probe, tokens=tokens, window=window)

    async def settle(
        self, adm: Admission, tokens_used: int, verdict: Verdict, latency_ms: float, breaker: Breaker, now: float
    ) -> None:
        self.release(adm, tokens_used)
        self.feed(adm, verdict, latency_ms, breaker, now)

    def release(self, adm: Admission, tokens_used: int) -> None:
        u = self._usage.get(adm.provider)
        if u is not None:
            u.in_flight = max(0, u.in_flight - 1)
            if u.window == adm.window:
                u.tokens += tokens_used - adm.tokens

    def feed(self, adm: Admission, verdict: Verdict, latency_ms: float, breaker: Breaker, now: float) -> str | None:
        """Feed the breaker; returns "opened" or "closed" when its state changed that way."""
        circ = self._circ.setdefault(adm.key, _Circuit())
        before = circ.state
        if adm.probe:
            circ.probes = max(0, circ.probes - 1)
        if verdict == "ok":
            _success(circ, latency_ms, breaker, now)
        elif verdict == "fail":
            _failure(circ, breaker, now, adm.probe)
        if circ.state == "open" and (before != "open" or adm.probe):
            return "opened"
        if circ.state == "closed" and before != "closed":
            return "closed"
        return None

    def breaker_until(self, key: str) -> float:
        circ = self._circ.get(key)
        return circ.open_until if circ is not None and circ.state == "open" else 0.0

    def mirror_breaker(self, key: str, until: float) -> None:
        """Apply a breaker state another instance published: open until ``until`` (0 = closed)."""
        circ = self._circ.setdefault(key, _Circuit())
        if until > circ.open_until or (until == 0 and circ.state != "closed"):
            if until:
                circ.state, circ.open_until, circ.open_s, circ.probes = "open", until, circ.open_s, 0
            else:
                circ.state, circ.open_until, circ.buckets, circ.consecutive = "closed", 0.0, {}, 0
                circ.totals = [0, 0]

    def mirror_cooldown(self, key: str, until: float, reason: str) -> None:
        c = self._cool.get(key)
        if c is None or until > c.until:
            self._cool[key] = _Cooldown(until, reason)

    def mirror_uncooled(self, key: str) -> None:
        """Apply a cooldown another instance cleared."""
        self._cool.pop(key, None)

    async def cool_down(self, key: str, until: float, reason: str, now: float) -> float:
        c = self._cooldown(key, now)
        if c is None or until > c.until:
            self._cool[key] = _Cooldown(until, reason)
            return until
        return c.until

    async def clear(self, key: str, reason_prefix: str) -> None:
        c = self._cool.get(key)
        if c is not None and c.reason.startswith(reason_prefix):
            del self._cool[key]

    def cooldown(self, key: str, now: float) -> tuple[float, str] | None:
        c = self._cooldown(key, now)
        return None if c is None else (c.until, c.reason)

    async def quota(self, provider: str, now: float) -> Quota:
        u = self._usage.get(provider)
        if u is None:
            return Quota()
        current = u.window == math.floor(now / 60.0)
        return Quota(requests=u.requests if current else 0, tokens=u.tokens if current else 0, in_flight=u.in_flight)

    async def reset_breaker(self, key: str) -> None:
        self.mirror_breaker(key, 0.0)


def _bucket(now: float, breaker: Breaker) -> int:
    return math.floor(now / (breaker.window_s / BUCKETS))


def _success(circ: _Circuit, latency_ms: float, breaker: Breaker, now: float) -> None:
    circ.consecutive = 0
    circ.latency_ms = (
        latency_ms if circ.latency_ms is None else (EWMA_ALPHA * latency_ms + (1 - EWMA_ALPHA) * circ.latency_ms)
    )
    _count(circ, breaker, now, ok=True)
    if circ.state == "half_open":
        circ.state, circ.open_s, circ.buckets, circ.totals = "closed", 0.0, {}, [0, 0]


def _failure(circ: _Circuit, breaker: Breaker, now: float, probe: bool) -> None:
    circ.consecutive += 1
    ok, failed = _count(circ, breaker, now, ok=False)
    if circ.state == "half_open":
        if probe:
            _open(circ, breaker, now, min(breaker.max_open_s, max(circ.open_s, breaker.open_s) * 2))
        return
    if circ.state == "closed" and (
        circ.consecutive >= breaker.consecutive_failures
        or (ok + failed >= breaker.min_requests and failed / (ok + failed) >= breaker.error_rate)
    ):
        _open(circ, breaker, now, breaker.open_s)


def _open(circ: _Circuit, breaker: Breaker, now: float, open_s: float) -> None:
    circ.state, circ.open_s, circ.open_until, circ.probes = "open", open_s, now + open_s, 0


def _count(circ: _Circuit, breaker: Breaker, now: float, *, ok: bool) -> tuple[int, int]:
    """Count one outcome in the sliding window; returns the window's (ok, failed) totals."""
    b = _bucket(now, breaker)
    cell = circ.buckets.get(b)
    if cell is None:
        for old in [k for k in circ.buckets if k <= b - BUCKETS]:
            gone = circ.buckets.pop(old)
            circ.totals[0] -= gone[0]
            circ.totals[1] -= gone[1]
        cell = circ.buckets[b] = [0, 0]
    i = 0 if ok else 1
    cell[i] += 1
    circ.totals[i] += 1
    return circ.totals[0], circ.totals[1]
