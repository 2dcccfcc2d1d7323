"""Qwen (DashScope compatible mode) error bodies: OpenAI's envelope with DashScope's codes."""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect

DIALECT = Dialect(
    auth=(
        401,
        {
            "error": {
                "message": "Incorrect API key provided. ",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
    ),
    rate_limit=(
        429,
        {
            "error": {
                "message": "Requests rate limit exceeded, please try again later.",
                "type": "Throttling.RateQuota",
                "param": None,
                "code": "Throttling.RateQuota",
            }
        },
    ),
    balance_exhausted=(
        400,
        {
            "error": {
                "message": "Access denied, please make sure your account is in good standing. For details, see: "
                "https://help.aliyun.com/zh/model-studio/error-code#overdue-payment",
                "type": "Arrearage",
                "param": None,
                "code": "Arrearage",
            }
        },
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
)
