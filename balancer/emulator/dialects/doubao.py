"""Doubao (Volcengine Ark) error bodies: ``{"error":{"code","message","param","type"}}``, ``type`` the HTTP
class name, the message ending with a request id."""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect, ErrorReply


def _err(status: int, code: str, message: str, type_: str) -> ErrorReply:
    return status, {"error": {"code": code, "message": message, "param": "", "type": type_}}


_RID = "Request id: 0217000000000000000000000000000000000000000emu"

DIALECT = Dialect(
    auth=_err(
        401,
        "AuthenticationError",
        f"The API key or AK/SK in the request is missing or invalid. {_RID}",
        "Unauthorized",
    ),
    rate_limit=_err(
        429,
        "RateLimitExceeded.EndpointRPMExceeded",
        f"The request has exceeded the RPM limit of the endpoint. {_RID}",
        "TooManyRequests",
    ),
    balance_exhausted=_err(
        403,
        "AccountOverdueError",
        f"The request failed because your account has an overdue balance. {_RID}",
        "Forbidden",
    ),
    content_filter=_err(
        400,
        "SensitiveContentDetected",
        f"The request failed because the input text may contain sensitive information. {_RID}",
        "BadRequest",
    ),
    context_length=_err(
        400,
        "OutofContextError",
        f"The total tokens of text and image exceed the context window. {_RID}",
        "BadRequest",
    ),
    bad_request=_err(
        400, "InvalidParameter", f"A parameter specified in the request is not valid. {_RID}", "BadRequest"
    ),
    server_error=_err(
        429, "ServerOverloaded", f"The service is overloaded, please try again later. {_RID}", "TooManyRequests"
    ),
)
