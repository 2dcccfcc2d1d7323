"""ERNIE (Qianfan v2) error bodies: ``{"error":{"code","message","type"},"id"}``.

Sources: https://cloud.baidu.com/doc/qianfan-api/s/Om9b4yj3w (403 ``account_overdue`` and ``model_offline``),
https://ai.baidu.com/ai-doc/WENXINWORKSHOP/Cm2y4d5ha (its example body, the envelope of all of them),
https://github.com/PaddlePaddle/ERNIE/issues/1031 (a real 429). Messages not in the tables are assumed.
"""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect


def _err(code: str, message: str, type_: str, rid: str = "as-t2z8xi6mm8") -> dict[str, object]:
    return {"error": {"code": code, "message": message, "type": type_}, "id": rid}


DIALECT = Dialect(
    auth=(401, _err("invalid_iam_token", "IAM Certification failed", "invalid_request_error")),
    rate_limit=(
        429,
        _err("rpm_rate_limit_exceeded", "Rate limit reached for RPM", "rate_limit_exceeded", "as-wbx23eriqh"),
    ),
    balance_exhausted=(403, _err("account_overdue", "account overdue", "access_denied")),
    content_filter=(403, _err("system_unsafe", "system unsafe", "unsafe_request")),
    context_length=(400, _err("tokens_too_long", "Prompt tokens too long", "invalid_request_error")),
    bad_request=(400, _err("malformed_json", "Invalid Argument", "invalid_request_error")),  # the page's example
    server_error=(500, _err("internal_error", "Internal error", "internal_error")),
    model_unavailable=(403, _err("model_offline", "model offline", "access_denied")),
)
