"""DeepSeek's error bodies and its ``/user/balance`` body (granted and topped-up money apart, as strings; the
example of https://api-docs.deepseek.com/zh-cn/api/get-user-balance). Statuses per
https://api-docs.deepseek.com/quick_start/error_codes ; the 402, context and "Content Exists Risk" bodies are as
third-party fixtures show them (research vendors-api.md §10), the 401/429/503 bodies hand-written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from balancer.emulator.dialects.base import Dialect, Unreasoned


def render_balance(granted: float, paid: float) -> Mapping[str, Any]:
    return {
        "is_available": granted + paid > 0,
        "balance_infos": [
            {
                "currency": "CNY",
                "total_balance": f"{granted + paid:.2f}",
                "granted_balance": f"{granted:.2f}",
                "topped_up_balance": f"{paid:.2f}",
            }
        ],
    }


DIALECT = Dialect(
    auth=(
        401,
        {
            "error": {
                "message": "Authentication Fails, Your api key: ****abcd is invalid",
                "type": "authentication_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
    ),
    rate_limit=(
        429,
        {
            "error": {
                "message": "Rate Limit Reached",
                "type": "rate_limit_error",
                "param": None,
                "code": "rate_limit_reached",
            }
        },
    ),
    balance_exhausted=(
        402,
        {
            "error": {
                "message": "Insufficient Balance",
                "type": "unknown_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
    ),
    content_filter=(
        400,
        {"error": {"message": "Content Exists Risk", "type": "invalid_request_error", "param": None, "code": None}},
    ),
    server_error=(
        503,
        {
            "error": {
                "message": "Server overloaded, please try again later.",
                "type": "server_error",
                "param": None,
                "code": "server_overloaded",
            }
        },
    ),
    context_length=(
        400,
        {
            "error": {
                "message": "This model's maximum context length is 65536 tokens. However, you requested 70000 tokens.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
    ),
    # Third-party logs: an unknown model name is a 400 "Model Not Exist".
    model_unavailable=(
        400,
        {
            "error": {
                "message": "Model Not Exist",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
    ),
    # An image part (every DeepSeek model takes text only): the message as github:rikkahub/rikkahub#1433 quotes it,
    # the envelope as github:nesquena/hermes-webui#2297 prints it; the index and column are the request's.
    text_only=(
        400,
        {
            "error": {
                "message": "Failed to deserialize the JSON body into the target type: messages[0]: unknown variant "
                "`image_url`, expected `text` at line 1 column 95",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
    ),
    # response_format json_schema (JSON mode is json_object only): the body github:llm-exe/llm-exe#662 captured.
    no_json_schema=(
        400,
        {
            "error": {
                "message": "This response_format type is unavailable now",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
    ),
    # Roles are system, user, assistant and tool (and its own latest_reminder): the body as
    # github:BenedictKing/ccx#149 quotes it (2026-05).
    no_developer_role=(
        400,
        {
            "error": {
                "message": "Failed to deserialize the JSON body into the target type: messages[0].role: unknown variant "
                "`developer`, expected one of `system`, `user`, `assistant`, `tool`, `latest_reminder` at line 1 column 30",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
    ),
    # Thinking, reasoning_content left out of a turn that called a tool (every assistant message between two user
    # messages: https://api-docs.deepseek.com/guides/thinking_mode): the V4 body github:anomalyco/opencode#25758
    # quotes raw (also github:crewAIInc/crewAI#5878); "" is taken (github:continuedev/continue#11285,
    # github:mnfst/llm-gateway#992).
    unreasoned=Unreasoned(
        (
            400,
            {
                "error": {
                    "message": "The `reasoning_content` in the thinking mode must be passed back to the API.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_request_error",
                }
            },
        ),
        empty_counts=False,
        whole_turn=True,
    ),
    # max_completion_tokens 5 gave 76 tokens, max_tokens 5 gave 5 (github:earendil-works/pi#8018, deepseek-v4-flash).
    ignores_max_completion_tokens=True,
    balance=render_balance,
)
