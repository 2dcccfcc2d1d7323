"""StepFun's error bodies: ``{"error":{"message","type"}}``; 402 balance, 451 moderation, 503 overload. Statuses
per https://platform.stepfun.com/docs/zh/guide/exception ; the 401 body from a third-party summary of
https://platform.stepfun.com/docs/zh/api-reference/error-codes ;
the other bodies are hand-written."""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect, ErrorReply


def _err(status: int, message: str, type_: str) -> ErrorReply:
    return status, {"error": {"message": message, "type": type_}}


DIALECT = Dialect(
    auth=_err(401, "Incorrect API key provided", "invalid_api_key"),
    rate_limit=_err(429, "Rate limit reached for requests", "request_rate_limit"),
    balance_exhausted=_err(402, "Insufficient balance", "insufficient_balance"),
    content_filter=_err(451, "The content failed the moderation check", "content_filter"),
    context_length=_err(400, "Input exceeds the model's context length", "invalid_request_error"),
    bad_request=_err(400, "Invalid parameter: messages", "invalid_request_error"),
    server_error=_err(503, "The engine is currently overloaded, please try again later", "server_error"),
)
