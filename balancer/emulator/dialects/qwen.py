"""Qwen (DashScope compatible mode) error bodies: OpenAI's envelope with DashScope's codes.

Codes and statuses per https://help.aliyun.com/zh/model-studio/error-code and
https://help.aliyun.com/zh/model-studio/rate-limit ; the bodies are as third parties quote them (research
vendors-api.md §3, and a compatible-mode 429 quoted in a third-party test). The TPM limit answers 429
``insufficient_quota`` ("Allocated quota exceeded"): rehearse it with the ``rate_limit`` fault's variants via
``custom``.
"""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect


def _err(message: str, code: str, type_: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": type_ or code, "param": None, "code": code}}


DIALECT = Dialect(
    auth=(401, _err("Incorrect API key provided. ", "invalid_api_key", "invalid_request_error")),
    rate_limit=(
        429,
        {
            "error": {
                "message": "You have exceeded your current request limit. For details, see: "
                "https://help.aliyun.com/zh/model-studio/error-code#rate-limit",
                "type": "limit_requests",
                "code": "limit_requests",
            }
        },
    ),
    balance_exhausted=(
        400,
        _err(
            "Access denied, please make sure your account is in good standing. For details, see: "
            "https://help.aliyun.com/zh/model-studio/error-code#overdue-payment",
            "Arrearage",
        ),
    ),
    content_filter=(
        400,
        {
            "error": {
                "code": "data_inspection_failed",
                "param": None,
                "message": "Input data may contain inappropriate content.",
                "type": "data_inspection_failed",
            }
        },
    ),
    # The message as https://www.alibabacloud.com/help/en/model-studio/coding-plan-faq gives it, limit filled in.
    context_length=(
        400,
        {
            "error": {
                "code": "invalid_parameter_error",
                "param": None,
                "message": "Range of input length should be [1, 30720]",
                "type": "invalid_request_error",
            }
        },
    ),
    # A third-party log quoting DashScope's 404 (code assumed: the log was cut).
    model_unavailable=(
        404,
        _err(
            "The model `qwen-emu-missing` does not exist or you do not have access to it.",
            "model_not_found",
            "invalid_request_error",
        ),
    ),
    # The role "developer", as github:BenedictKing/ccx#161 quotes compatible mode's answer (2026-05).
    no_developer_role=(
        400,
        _err(
            "developer is not one of ['system', 'assistant', 'user', 'tool', 'function'] - 'messages.['0].role'",
            "invalid_request_error",
        ),
    ),
)
