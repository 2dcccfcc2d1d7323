"""The failure taxonomy and the errors the gateway answers with.

Classification returns data, not exceptions: a vendor's rules turn an upstream reply into an
:class:`Outcome` whose :class:`Failure` class decides the consequence (the route's ``failover.classes``,
:class:`balancer.config_failover.ClassPolicy`, applied by :mod:`balancer.attempt` and :mod:`balancer.failover`).

Exceptions exist only at the edges: :class:`GatewayError` is an answer to the client, OpenAI-shaped —
bad input (400/413/415), authentication (401), an unknown route (404), a vendor refusing the request as
the client sent it, or every candidate failed (the last failure's class decides the status, see
:data:`CLIENT_FACING`) or none had capacity (503).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import msgspec

from balancer.secrets import masked


class Failure(enum.StrEnum):
    """Every upstream failure falls into exactly one of these classes."""

    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    AUTH_FAILED = "auth_failed"
    # One model on one account: missing, offline, not activated or not permitted (the account is fine).
    MODEL_UNAVAILABLE = "model_unavailable"
    BAD_REQUEST = "bad_request"
    # This vendor refuses a request others may take as it is (a shape its API alone does not accept: Kimi's tool
    # schemas): another candidate is tried, and this one stays healthy.
    UNSUPPORTED = "unsupported"
    CONTEXT_LENGTH = "context_length"
    CONTENT_FILTERED = "content_filtered"
    UPSTREAM_ERROR = "upstream_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    MALFORMED_RESPONSE = "malformed_response"


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a vendor's rules concluded about one upstream reply (``failure is None`` means success)."""

    failure: Failure | None = None
    status: int = 200
    code: str = ""
    message: str = ""
    retry_after_s: float | None = None
    # Seconds until a quota resets, when the vendor says (daily/monthly quotas).
    reset_after_s: float | None = None
    about: str = ""  # the request field the failure is about, when its rule names one (ErrorRule.about)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def detail(self) -> str:
        """What a client may read of this failure: the vendor's words (scrubbed of keys), or its code. A connection
        that failed on the gateway's side is only named: the OS's text names the upstream's address (``Connect
        call failed ('10.0.0.5', 8443)``), which is for the log (``upstream_failed``), not for clients."""
        if self.failure is Failure.CONNECTION_ERROR and self.status == 0:
            return "the vendor could not be reached, or it dropped the connection"
        return self.message or self.code or "no detail"


OK = Outcome()


class ErrorDetail(msgspec.Struct, kw_only=True):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorBody(msgspec.Struct, kw_only=True):
    error: ErrorDetail


_encoder = msgspec.json.Encoder()


class GatewayError(Exception):
    """An error answered to the client as ``{"error": {...}}`` with an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = masked(message)  # a client's text quoted back may hold a key it pasted in the wrong place
        self.type = type
        self.code = code
        self.param = None if param is None else masked(param)
        self.headers = headers or {}

    def redact(self, scrub: Callable[[str], str]) -> GatewayError:
        """This error with ``scrub`` (the config's :class:`~balancer.secrets.Scrubber`: its providers' keys too)
        applied to its message and param: what the API does to every error before it answers or logs it."""
        self.message = scrub(self.message)
        self.param = None if self.param is None else scrub(self.param)
        return self

    def body(self) -> bytes:
        detail = ErrorDetail(message=self.message, type=self.type, code=self.code, param=self.param)
        return _encoder.encode(ErrorBody(error=detail))


# Status and OpenAI error type answered when every attempt failed with a given class.
CLIENT_FACING: dict[Failure, tuple[int, str]] = {
    Failure.RATE_LIMITED: (429, "rate_limit_error"),
    Failure.QUOTA_EXHAUSTED: (429, "insufficient_quota"),
    Failure.AUTH_FAILED: (502, "upstream_error"),
    Failure.MODEL_UNAVAILABLE: (502, "upstream_error"),
    Failure.BAD_REQUEST: (400, "invalid_request_error"),
    Failure.UNSUPPORTED: (400, "invalid_request_error"),
    Failure.CONTEXT_LENGTH: (400, "invalid_request_error"),
    Failure.CONTENT_FILTERED: (400, "invalid_request_error"),
    Failure.UPSTREAM_ERROR: (502, "upstream_error"),
    Failure.TIMEOUT: (504, "timeout"),
    Failure.CONNECTION_ERROR: (502, "upstream_error"),
    Failure.MALFORMED_RESPONSE: (502, "upstream_error"),
}


def error_event(message: str, type_: str, code: str | None) -> bytes:
    """An SSE event carrying an OpenAI-style error (the ``openai`` SDK raises on it)."""
    detail = ErrorDetail(message=message, type=type_, code=code)
    return b"data: " + _encoder.encode(ErrorBody(error=detail)) + b"\n\n"
