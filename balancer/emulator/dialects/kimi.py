"""Moonshot Kimi's error bodies (``{"error":{"message","type"}}``) and its ``/users/me/balance`` body
(voucher = granted, cash = paid; the example of https://platform.kimi.ai/docs/api/balance).

Types and messages from https://platform.kimi.com/docs/api/errors (the content-filter body is its example);
the quota body as third-party fixtures show it (research vendors-api.md §12); the RPM and 404 wordings are
hand-written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from balancer.emulator.dialects.base import Dialect, ErrorReply, Unreasoned


def render_balance(granted: float, paid: float) -> Mapping[str, Any]:
    return {
        "code": 0,
        "data": {"available_balance": granted + paid, "voucher_balance": granted, "cash_balance": paid},
        "scode": "0x0",
        "status": True,
    }


_ONLY_1: ErrorReply = (
    400,
    {"error": {"message": "invalid temperature: only 1 is allowed for this model", "type": "invalid_request_error"}},
)

DIALECT = Dialect(
    auth=(401, {"error": {"message": "Invalid Authentication", "type": "invalid_authentication_error"}}),
    rate_limit=(
        429,
        {
            "error": {
                "message": "Your account org-xxx request reached organization max RPM: 3",
                "type": "rate_limit_reached_error",
            }
        },
    ),
    balance_exhausted=(
        429,
        {
            "error": {
                "message": "Your account is suspended due to insufficient balance, please recharge your account "
                "or check your plan and billing details",
                "type": "exceeded_current_quota_error",
            }
        },
    ),
    content_filter=(
        400,
        {
            "error": {
                "type": "content_filter",
                "message": "The request was rejected because it was considered high risk",
            }
        },
    ),
    context_length=(
        400,
        {
            "error": {
                "message": "Invalid request: Your request exceeded model token limit : 8192",
                "type": "invalid_request_error",
            }
        },
    ),
    server_error=(
        429,
        {
            "error": {
                "message": "The engine is currently overloaded, please try again later",
                "type": "engine_overloaded_error",
            }
        },
    ),
    model_unavailable=(
        404,
        {
            "error": {
                "message": "Not found the model moonshot-v1-9k or Permission denied",
                "type": "resource_not_found_error",
            }
        },
    ),
    balance=render_balance,
    # kimi-k2.6 and kimi-k3 think by default: temperature 1 alone, another is the 400 github:kodustech/kodus-ai#1120
    # quotes from api.moonshot.ai (k3: github:XCNXNXNX/dsh-portable-tavern#1).
    temperature_only={"kimi-k2.6": (1.0, _ONLY_1), "kimi-k3": (1.0, _ONLY_1)},
    # tool_choice required or a named tool: the body github:AstrBotDevs/AstrBot#7805 quotes (thinking on).
    tool_choice=(
        ("none", "auto"),
        (
            400,
            {
                "error": {
                    "message": "tool_choice 'required' is incompatible with thinking enabled",
                    "type": "invalid_request_error",
                }
            },
        ),
    ),
    # The role "developer": hand-written from "unsupported role ROLE_UNSPECIFIED", as github:openclaw/openclaw#21911
    # paraphrases kimi-k2.5's answer (no body quoted).
    no_developer_role=(
        400,
        {"error": {"message": "unsupported role ROLE_UNSPECIFIED", "type": "invalid_request_error"}},
    ),
    # An assistant message with nothing in it: the body github:lobehub/lobehub#8419 quotes from api.moonshot.cn (also
    # github:AstrBotDevs/AstrBot#7200, kimi-k2.5); beside tool calls, "text content is empty" (github:MoonshotAI/
    # kimi-cli#2621, whose client leaves such content out; github:BerriAI/litellm#42186 for empty text parts, which
    # says "" passes: the emulator refuses both, the stricter reading).
    empty_assistant=(
        (
            400,
            {
                "error": {
                    "message": "Invalid request: the message at position {position} with role 'assistant' must not be empty",
                    "type": "invalid_request_error",
                }
            },
        ),
        (400, {"error": {"message": "Invalid request: text content is empty", "type": "invalid_request_error"}}),
    ),
    # A tool schema outside Moonshot's JSON Schema subset: parameters whose root has no "type": "object" (the message
    # github:14790897/MiqroForge-Desktop#1165 quotes from api.moonshot.cn, k3 and k2.6), and a node below breaking a
    # rule (the body github:earendil-works/pi#4138 quotes, K2.6).
    tool_schema=(
        (
            400,
            {
                "error": {
                    "message": 'tools.function.parameters.type is required and must be "object"',
                    "type": "invalid_request_error",
                }
            },
        ),
        (
            400,
            {
                "error": {
                    "message": "Invalid request: tools.function.parameters is not a valid moonshot flavored json "
                    "schema, details: {details}",
                    "type": "invalid_request_error",
                }
            },
        ),
    ),
    # Thinking, a tool call without its reasoning_content: the body github:labring/FastGPT#6357 quotes (k2.5; the same
    # message from K2.6 in github:OnesoftQwQ/opencode-go-copilot#1). "" is refused too, the stricter reading: clients
    # sending "" report both outcomes.
    unreasoned=Unreasoned(
        (
            400,
            {
                "error": {
                    "message": "thinking is enabled but reasoning_content is missing in assistant tool call message at "
                    "index {index}",
                    "type": "invalid_request_error",
                }
            },
        ),
        empty_counts=True,
        whole_turn=False,
    ),
)
