"""ERNIE (Qianfan v2) error bodies: ``{"error":{"code","message","type"},"id"}``."""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect


def _err(code: str, message: str, type_: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "type": type_}, "id": "as-emu0000001"}


DIALECT = Dialect(
    auth=(401, _err("invalid_iam_token", "IAM Certification failed", "invalid_request_error")),
    rate_limit=(429, _err("rpm_rate_limit_exceeded", "Rate limit reached for RPM", "rate_limit_exceeded")),
    balance_exhausted=(
        429,
        _err("BILLING_INSUFFICIENT_BALANCE", "Your account has insufficient balance", "rate_limit_exceeded"),
    ),
    content_filter=(403, _err("system_unsafe", "system unsafe", "unsafe_request")),
    context_length=(400, _err("tokens_too_long", "Prompt tokens too long", "invalid_request_error")),
    bad_request=(400, _err("invalid_messages", "Invalid messages", "invalid_request_error")),
    server_error=(500, _err("internal_error", "Internal error", "internal_error")),
)
