"""One emulated vendor account: its vendor and dialect, the fault injected into it, its limits and
balance, and its counters. A target is a vendor name, optionally with an account suffix
(``deepseek``, ``deepseek.b``)."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import msgspec

from balancer.emulator.dialects.base import Dialect, ErrorReply
from balancer.vendors.base import Vendor

Fault = Literal[
    "ok",
    "rate_limit",
    "balance_exhausted",
    "server_error",
    "timeout",
    "slow_first_byte",
    "truncate_stream",
    "malformed",
    "stall_stream",
    "linger",
    "content_filter",
    "context_length",
    "auth",
    "bad_request",
    "stream_error",
    "model_unavailable",
    "custom",
]
FAULTS: tuple[str, ...] = get_args(Fault)


class FaultSpec(msgspec.Struct, forbid_unknown_fields=True):
    target: str
    fault: Fault
    probability: float = 1.0
    latency_ms: float = 0.0
    count: int | None = None  # apply this many times, then stop (None: until cleared)
    retry_after: float | None = None  # seconds, sent as Retry-After with rate_limit
    # An error fault: answer this body (and status) instead of the dialect's (a vendor's other variants).
    # ``custom``: answer exactly ``status``, ``headers`` and ``body`` (a string is sent byte for byte, an object
    # as JSON), or with ``events`` the raw SSE lines in order, each ended by a blank line, ``latency_ms`` apart.
    body: dict[str, Any] | str | None = None
    status: int | None = None
    headers: dict[str, str] | None = None
    events: list[str] | None = None


_STATS = (
    "requests",
    "served",
    "errors",
    "streams",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "limit_rejections",
    "peak_window_requests",
    "peak_window_tokens",
    "batch_lines",  # lines answered by batches (their tokens are in the token counts too)
)


@dataclass(slots=True)
class Target:
    name: str
    vendor: Vendor  # production facts: auth scheme, quirks, balance path
    dialect: Dialect  # what its wire looks like from the vendor's side
    fault: FaultSpec | None = None
    key: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    balance_tokens: int | None = None
    granted: float = 10.0
    paid: float = 100.0
    window: int = -1
    window_requests: int = 0
    window_tokens: int = 0
    stats: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_STATS, 0))
    faults_applied: dict[str, int] = field(default_factory=dict)

    def draw_fault(self, rng: random.Random) -> FaultSpec | None:
        """The fault that strikes this request, if any (a counted fault is used up)."""
        f = self.fault
        if f is None or rng.random() >= f.probability:
            return None
        if f.count is not None:
            f.count -= 1
            if f.count <= 0:
                self.fault = None
        self.faults_applied[f.fault] = self.faults_applied.get(f.fault, 0) + 1
        return f

    def admit(self, tokens: int) -> tuple[ErrorReply, dict[str, str]] | None:
        """The vendor's own limits: RPM/TPM per fixed minute window, and a token balance. None when the
        request is within them, else the vendor's error (and headers)."""
        if self.balance_tokens is not None and self.balance_tokens <= 0:
            return self.dialect.balance_exhausted, {}
        now = time.time()
        window = math.floor(now / 60)
        if window != self.window:
            self.window, self.window_requests, self.window_tokens = window, 0, 0
        over_rpm = self.rpm is not None and self.window_requests + 1 > self.rpm
        if over_rpm or (self.tpm is not None and self.window_tokens + tokens > self.tpm):
            self.stats["limit_rejections"] += 1
            return self.dialect.rate_limit, {"Retry-After": str(max(1, (window + 1) * 60 - int(now)))}
        self.window_requests += 1
        self.window_tokens += tokens
        self.stats["peak_window_requests"] = max(self.stats["peak_window_requests"], self.window_requests)
        self.stats["peak_window_tokens"] = max(self.stats["peak_window_tokens"], self.window_tokens)
        return None

    def book(self, prompt: int, completion: int) -> None:
        """Count a served reply and spend its tokens from the balance."""
        self.stats["served"] += 1
        self.stats["prompt_tokens"] += prompt
        self.stats["completion_tokens"] += completion
        self.stats["total_tokens"] += prompt + completion
        if self.balance_tokens is not None:
            self.balance_tokens -= prompt + completion

    def ratelimit_headers(self) -> dict[str, str] | None:
        """OpenAI-style x-ratelimit-* headers when the target enforces an RPM limit (as OpenAI, Qianfan, Kimi
        and Azure send them)."""
        if self.rpm is None:
            return None
        reset = max(0.0, (self.window + 1) * 60 - time.time())
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-remaining-requests": str(max(0, self.rpm - self.window_requests)),
            "x-ratelimit-reset-requests": f"{reset:.3f}s",
        }
