"""01.AI Yi's error bodies, hand-written: OpenAI's envelope and status meanings, assumed (none seen in any source)."""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect, ErrorReply


def _err(status: int, code: str, message: str, type_: str) -> ErrorReply:
    return status, {"error": {"message": message, "type": type_, "param": None, "code": code}}


DIALECT = Dialect(
    auth=_err(401, "invalid_api_key", "Incorrect API key provided", "invalid_request_error"),
    rate_limit=_err(429, "rate_limit_exceeded", "Rate limit reached for requests", "rate_limit_error"),
    balance_exhausted=_err(429, "insufficient_quota", "Insufficient balance", "insufficient_quota"),
)
