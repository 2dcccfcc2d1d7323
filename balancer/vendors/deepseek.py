"""DeepSeek: OpenAI-compatible; 402 means no balance; a balance API reports granted vs topped-up.

Sources: https://api-docs.deepseek.com/quick_start/error_codes ,
https://api-docs.deepseek.com/zh-cn/api/get-user-balance , pricing page (late 2026; prices are the
off-peak/peak list, kept here at the peak figure and overridable in config).
"""

from __future__ import annotations

import msgspec

from balancer.errors import Failure
from balancer.vendors.base import Balance, BalanceProbe, ErrorRule, ModelInfo, Vendor


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
    balance=BalanceProbe(path="/user/balance", parse=parse_balance),
)
