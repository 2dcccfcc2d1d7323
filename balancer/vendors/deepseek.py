"""DeepSeek: OpenAI-compatible; 402 means no balance; a balance API reports granted vs topped-up.

Sources: https://api-docs.deepseek.com/quick_start/error_codes ,
https://api-docs.deepseek.com/zh-cn/api/get-user-balance , pricing page (late 2026; prices are the
off-peak/peak list, kept here at the peak figure and overridable in config).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from balancer.errors import Failure
from balancer.vendors.base import Balance, BalanceProbe, Dialect, ErrorRule, ModelInfo, Vendor


class _Info(msgspec.Struct):
    currency: str
    total_balance: str
    granted_balance: str = "0"
    topped_up_balance: str = "0"


class _BalanceReply(msgspec.Struct):
    is_available: bool
    balance_infos: list[_Info]


_decoder = msgspec.json.Decoder(_BalanceReply)


def parse_balance(body: bytes) -> Balance:
    reply = _decoder.decode(body)
    # One entry per currency; CNY is the account's home currency on api.deepseek.com.
    info = next((i for i in reply.balance_infos if i.currency == "CNY"), reply.balance_infos[0])
    return Balance(
        total=float(info.total_balance),
        granted=float(info.granted_balance),
        paid=float(info.topped_up_balance),
        currency="USD" if info.currency == "USD" else "CNY",
    )


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


VENDOR = Vendor(
    name="deepseek",
    title="DeepSeek",
    base_url="https://api.deepseek.com",
    docs="https://api-docs.deepseek.com/quick_start/error_codes",
    models={
        "deepseek-flash": ModelInfo(1_000_000, 384_000, 2.0, 8.0, 0.04),
        "deepseek-v4-pro": ModelInfo(1_000_000, 384_000, 9.0, 27.0, 0.30),
        # Older names many configs still use.
        "deepseek-chat": ModelInfo(128_000, 8_192, 2.0, 3.0, 0.2),
        "deepseek-reasoner": ModelInfo(128_000, 65_536, 4.0, 16.0, 1.0),
    },
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, status=402),
        ErrorRule(Failure.CONTEXT_LENGTH, status=400, contains="maximum context length"),
        ErrorRule(Failure.CONTENT_FILTERED, status=400, contains="Content Exists Risk"),  # [3p] reports
        ErrorRule(Failure.RATE_LIMITED, status=429),
        ErrorRule(Failure.BAD_REQUEST, status=422),
        ErrorRule(Failure.UPSTREAM_ERROR, status=503),
    ),
    balance=BalanceProbe(path="/user/balance", parse=parse_balance, render=render_balance),
    dialect=Dialect(
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
    ),
)
