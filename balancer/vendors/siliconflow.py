"""SiliconFlow: OpenAI-compatible host of open models, Bearer key, and a balance API that reports the
granted (``balance``) and topped-up (``chargeBalance``) money apart, as strings.

Sources: https://docs.siliconflow.cn/en/faqs/error-codecopy (status table),
https://docs.siliconflow.cn/cn/api-reference/userinfo/get-user-info (balance; success iff ``code == 20000``),
https://docs.siliconflow.cn/cn/userguide/rate-limits/rate-limit-and-upgradation.md . 403 is documented as
"insufficient permission" (most often a model that needs real-name verification); the Chinese error-handling
page https://docs.siliconflow.cn/cn/faqs/error-code adds "账户余额不足" (insufficient balance), so a 403 whose message mentions balance is quota, any other 403 takes out that
model only. Bodies are
``{"code":…,"message":…,"data":…}`` (20012 = unknown model, https://docs.siliconflow.cn/en/faqs/error-code);
the other codes inside are from third-party fixtures [3p].
"""

from __future__ import annotations

import msgspec

from balancer import wire
from balancer.errors import Failure
from balancer.vendors.base import Balance, BalanceProbe, ErrorRule, ModelInfo, Vendor

_ERRORS = "https://docs.siliconflow.cn/en/faqs/error-codecopy"
_HANDLING = "https://docs.siliconflow.cn/en/faqs/error-code"
_HANDLING_CN = "https://docs.siliconflow.cn/cn/faqs/error-code"


class _Data(msgspec.Struct, rename="camel"):
    balance: str = "0"
    charge_balance: str = "0"
    total_balance: str = "0"


class _Reply(msgspec.Struct):
    code: int
    data: _Data | None = None
    message: str = ""


_decoder = msgspec.json.Decoder(_Reply)


def parse_balance(body: bytes) -> Balance:
    reply = wire.untrusted_json(_decoder.decode, body)
    if reply.code != 20000 or reply.data is None:
        raise ValueError(f"siliconflow user/info: code {reply.code} {reply.message}")
    d = reply.data
    return Balance(total=float(d.total_balance), granted=float(d.balance), paid=float(d.charge_balance))


VENDOR = Vendor(
    name="siliconflow",
    title="SiliconFlow",
    base_url="https://api.siliconflow.cn/v1",
    docs="https://docs.siliconflow.cn/en/faqs/error-codecopy",
    models={
        "deepseek-ai/DeepSeek-V3": ModelInfo(131_072, 8_192, 2.0, 8.0),
        "deepseek-ai/DeepSeek-R1": ModelInfo(131_072, 16_384, 4.0, 16.0),
        "Qwen/Qwen3-8B": ModelInfo(131_072, 8_192, 0.0, 0.0),  # permanently free (real-name verification)
        "Qwen/Qwen2.5-72B-Instruct": ModelInfo(32_768, 4_096, 4.13, 4.13),
        "THUDM/glm-4-9b-chat": ModelInfo(131_072, 4_096, 0.0, 0.0),
        "BAAI/bge-m3": ModelInfo(8_192, None, 0.0, 0.0, kind="embeddings"),
    },
    errors=(
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            status=403,
            contains="balance",
            source="unconfirmed: the message wording; "
            + _HANDLING_CN
            + ' (403 账户余额不足或者权限不够) confirms a 403 can be the balance; body 30001 "Sorry, your account balance'
            ' is insufficient" from third-party fixtures',
        ),
        # 403 is "insufficient permission", most often a model that needs real-name verification: that model only.
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            status=403,
            source=_ERRORS + " (403: the model needs real-name verification / permission)",
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="20012",
            source=_HANDLING
            + ' (HTTP 400 {"code":20012,"message":"Model does not exist. Please check it carefully."})',
        ),
        ErrorRule(Failure.RATE_LIMITED, status=429, source=_ERRORS + " (429 rate limit)"),
        ErrorRule(Failure.UPSTREAM_ERROR, status=503, source=_ERRORS + " (503 overloaded)"),
        ErrorRule(Failure.TIMEOUT, status=504, source=_ERRORS + " (504 timeout)"),
        ErrorRule(Failure.CONTEXT_LENGTH, contains="context length", source="unconfirmed: wording assumed"),
        ErrorRule(Failure.CONTENT_FILTERED, contains="sensitive", source="unconfirmed: wording assumed"),
    ),
    balance=BalanceProbe(path="/user/info", parse=parse_balance),
)
