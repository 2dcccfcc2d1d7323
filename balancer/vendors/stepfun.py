"""StepFun: OpenAI-compatible, Bearer key. 402 = insufficient balance, 451 = content moderation,
429 = rate limit, 503 = overloaded.

Sources: StepFun's error-handling guide https://platform.stepfun.com/docs/zh/guide/exception (402, 429, 451,
500/503/504); its error-code page https://platform.stepfun.com/docs/zh/api-reference/error-codes as summarised by a
third party (api-evangelist, 2026-07) [3p] for the envelope
``{"error":{"message","type"}}``. Prices, rate limits and a balance API were not found; the 2026 model
line-up (Step 3.x) is from a third party [3p]. Context-length wording is unconfirmed.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Vendor

_GUIDE = "https://platform.stepfun.com/docs/zh/guide/exception"  # StepFun's own 处理异常 guide: HTTP-level errors
_3P = (
    "unconfirmed: api-evangelist's summary (2026-07) of https://platform.stepfun.com/docs/zh/api-reference/error-codes"
)

VENDOR = Vendor(
    name="stepfun",
    title="StepFun",
    base_url="https://api.stepfun.com/v1",
    docs="https://platform.stepfun.com/docs/zh/api-reference/error-codes",
    models={
        # Prices not found (0 = unknown; set them in config).
        "step-3": ModelInfo(65_536, 8_192, vision=True, price_known=False),
        "step-2-16k": ModelInfo(16_384, 4_096, price_known=False),
        "step-1-8k": ModelInfo(8_192, 4_096, price_known=False),
        "step-1-32k": ModelInfo(32_768, 4_096, price_known=False),
        "step-1-256k": ModelInfo(262_144, 4_096, price_known=False),
        "step-1-flash": ModelInfo(8_192, 4_096, price_known=False),
    },
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, status=402, source=_GUIDE + " (402: 账号当中的余额已经无法支撑本次调用)"),
        ErrorRule(Failure.CONTENT_FILTERED, status=451, source=_GUIDE + " (451: 无法通过安全审核的内容)"),
        ErrorRule(Failure.RATE_LIMITED, status=429, source=_GUIDE + " (429: 请求频次已经超出了允许的频次)"),
        ErrorRule(Failure.UPSTREAM_ERROR, status=503, source=_GUIDE + " (500 / 503 / 504: 服务端出现的问题, 稍等重试)"),
        ErrorRule(Failure.CONTEXT_LENGTH, contains="context length", source="unconfirmed: wording assumed"),
        ErrorRule(
            Failure.AUTH_FAILED, type="invalid_api_key", source=_3P + ' (401 {"error":{"type":"invalid_api_key"}})'
        ),
    ),
)
