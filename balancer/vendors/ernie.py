"""Baidu ERNIE via Qianfan v2 (OpenAI-compatible, ``Authorization: Bearer bce-v3/ALTAK-…``).

Sources: https://cloud.baidu.com/doc/qianfan/s/Hmh4suq26 (v2 endpoint and key),
https://cloud.baidu.com/doc/qianfan-api/s/rmwbl43x7 (v2 error table),
https://cloud.baidu.com/doc/WENXINWORKSHOP/s/tlmyncueh (v1 error codes 17/18/110/111).

The v1 API (AK/SK exchanged for an OAuth ``access_token``) is marked offline (已下线) by Baidu, so no
token exchange is implemented: configure a v2 key. v1-style bodies (``error_code`` 17/18/336501/336502)
are still classified, for proxies that relay v1. Balance exhausted on v2 chat is not documented; the
rule below uses the code Baidu AppBuilder documents (429 ``BILLING_INSUFFICIENT_BALANCE``,
https://ai.baidu.com/ai-doc/AppBuilder/4m8sgh88y) — unconfirmed for chat; extend via the table.
No balance API is reachable with the inference key.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor

VENDOR = Vendor(
    name="ernie",
    title="Baidu ERNIE (Qianfan v2)",
    base_url="https://qianfan.baidubce.com/v2",
    auth_scheme="Authorization: Bearer bce-v3/ALTAK-… (v1 AK/SK token exchange: offline, not supported)",
    docs="https://cloud.baidu.com/doc/qianfan-api/s/rmwbl43x7",
    models={
        # Prices: mid-2025 list (3p syaoranwe/LLM-Price); ernie-5.1 price not found (0 = unknown, set in config).
        "ernie-5.1": ModelInfo(131_072, 65_536, price_known=False),
        "ernie-4.5-turbo-128k": ModelInfo(131_072, 12_288, 0.8, 3.2),
        "ernie-x1-turbo-32k": ModelInfo(32_768, 16_384, 1.0, 4.0),
        "ernie-4.0-8k": ModelInfo(8_192, 2_048, 4.0, 16.0),
        "ernie-speed-128k": ModelInfo(131_072, 4_096, 0.0, 0.0, tools=False),
        "ernie-lite-8k": ModelInfo(8_192, 2_048, 0.0, 0.0, tools=False),
        "embedding-v1": ModelInfo(384, None, 0.5, 0.0, kind="embeddings"),
    },
    # v1 documented temperature (0, 1] and top_p [0, 1]; assumed to hold on v2 (override: provider extra).
    quirks=Quirks(temperature=(0.01, 1.0), top_p=(0.0, 1.0)),
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="BILLING_INSUFFICIENT_BALANCE"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="17", resets="day_cn"),  # v1: daily cap or arrears
        ErrorRule(Failure.RATE_LIMITED, type="rate_limit_exceeded"),
        ErrorRule(Failure.RATE_LIMITED, code="18"),
        ErrorRule(Failure.RATE_LIMITED, code="336501"),
        ErrorRule(Failure.RATE_LIMITED, code="336502"),
        ErrorRule(Failure.CONTEXT_LENGTH, code="tokens_too_long"),
        ErrorRule(Failure.CONTEXT_LENGTH, code="characters_too_long"),
        ErrorRule(Failure.CONTENT_FILTERED, type="unsafe_request"),
        ErrorRule(Failure.CONTENT_FILTERED, code="system_unsafe"),
        ErrorRule(Failure.CONTENT_FILTERED, code="user_setting_unsafe"),
        ErrorRule(Failure.AUTH_FAILED, code="invalid_iam_token"),
        ErrorRule(Failure.AUTH_FAILED, code="110"),
        ErrorRule(Failure.AUTH_FAILED, code="111"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="internal_error"),
    ),
)
