"""Baidu ERNIE via Qianfan v2 (OpenAI-compatible, ``Authorization: Bearer bce-v3/ALTAK-…``).

Sources: https://cloud.baidu.com/doc/qianfan/s/Hmh4suq26 (v2 endpoint and key),
https://cloud.baidu.com/doc/qianfan-api/s/rmwbl43x7 and /Om9b4yj3w (v2 error tables),
https://cloud.baidu.com/doc/WENXINWORKSHOP/s/tlmyncueh (v1 error codes 17/18/110/111).

The v1 API (AK/SK exchanged for an OAuth ``access_token``) is marked offline (已下线) by Baidu, so no
token exchange is implemented: configure a v2 key. v1-style bodies (``error_code`` 17/18/336501/336502)
are still classified, for proxies that relay v1. The v2 balance error is 403 ``account_overdue``
(https://cloud.baidu.com/doc/qianfan-api/s/Om9b4yj3w); ``model_offline`` and ``invalid_model`` (401 "No
permission to use the model") concern one model and take out only that model. AppBuilder's 429
``BILLING_INSUFFICIENT_BALANCE`` is kept as an unconfirmed extra.
No balance API is reachable with the inference key.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor

_V2 = "https://cloud.baidu.com/doc/qianfan-api/s/Om9b4yj3w"
_V2_NEW = "https://cloud.baidu.com/doc/qianfan-api/s/rmwbl43x7"
_V2_OLD = "https://ai.baidu.com/ai-doc/WENXINWORKSHOP/Cm2y4d5ha"
_V1 = "https://ai.baidu.com/ai-doc/WENXINWORKSHOP/tlmyncueh"
_V1_RATE = "https://cloud.baidu.com/doc/WENXINWORKSHOP/s/hlzic283e"
_SDK_CODES = "github:baidubce/bce-qianfan-sdk python/qianfan/consts.py APIErrorCode"

VENDOR = Vendor(
    name="ernie",
    title="Baidu ERNIE (Qianfan v2)",
    base_url="https://qianfan.baidubce.com/v2",
    auth_scheme="Authorization: Bearer bce-v3/ALTAK-… (v1 AK/SK token exchange: offline, not supported)",
    docs=_V2,
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
        # v2: the balance error is 403 account_overdue (type access_denied) — the account is out of money.
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="account_overdue", source=_V2 + " (403 access_denied account_overdue)"),
        # v2 errors that concern one model take out that model, not the account.
        ErrorRule(Failure.MODEL_UNAVAILABLE, code="model_offline", source=_V2 + " (403 model_offline)"),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            status=401,
            code="invalid_model",
            source=_V2_OLD + " (401 invalid_model: No permission to use the model)",
        ),
        ErrorRule(
            Failure.BAD_REQUEST,
            code="no_parameter_permission",
            source=_V2_OLD + " (401 access_denied no_parameter_permission)",
        ),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            code="BILLING_INSUFFICIENT_BALANCE",
            source="unconfirmed: for chat; documented for Baidu AI Search (AppBuilder), 429, https://ai.baidu.com/ai-doc/AppBuilder/4m8sgh88y",
        ),
        ErrorRule(Failure.RATE_LIMITED, type="rate_limit_exceeded", source=_V2 + " (429 rate_limit_exceeded)"),
        ErrorRule(
            Failure.CONTEXT_LENGTH,
            code="tokens_too_long",
            source=_V2_NEW + " (400 tokens_too_long: Prompt tokens too long)",
        ),
        ErrorRule(Failure.CONTEXT_LENGTH, code="characters_too_long", source=_V2_NEW + " (400 characters_too_long)"),
        ErrorRule(Failure.CONTENT_FILTERED, type="unsafe_request", source=_V2 + " (400 unsafe_request)"),
        ErrorRule(
            Failure.CONTENT_FILTERED,
            code="system_unsafe",
            source="unconfirmed: 403 system_unsafe from third-party client mappings (research §2)",
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED,
            code="user_setting_unsafe",
            source="unconfirmed: 403 user_setting_unsafe from third-party client mappings (research §2)",
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED,
            code="functions_unsafe",
            source="unconfirmed: 403 functions_unsafe from third-party client mappings (research §2)",
        ),
        ErrorRule(Failure.AUTH_FAILED, code="invalid_iam_token", source=_V2_NEW + " (401 invalid_iam_token)"),
        ErrorRule(Failure.AUTH_FAILED, code="invalid_appid", source=_V2_NEW + " (401 invalid_appid)"),
        # v1 bodies ({"error_code", "error_msg"}), for proxies that still relay v1.
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            code="17",
            resets="day_cn",
            source=_V1 + " (17 daily limit, or paid API not enabled / arrears)",
        ),
        ErrorRule(Failure.RATE_LIMITED, code="18", source=_V1 + " (18 Open api qps request limit reached)"),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            code="19",
            source=_SDK_CODES + " (TotalRequestLimitReached = 19); https://ai.baidu.com/ai-doc/EASYDL/8k3tn1gtw"
            " (19 Open api total request limit reached: 请求总量超限额, open billing in the console)",
        ),
        # v1 parameter errors are the client's: without these they fell to upstream_error and were retried elsewhere.
        ErrorRule(Failure.BAD_REQUEST, code="336001", source=_SDK_CODES + " (InvalidArgument = 336001)"),
        ErrorRule(Failure.BAD_REQUEST, code="336002", source=_SDK_CODES + " (InvalidJSON = 336002)"),
        ErrorRule(Failure.BAD_REQUEST, code="336003", source=_SDK_CODES + " (InvalidParam = 336003)"),
        ErrorRule(Failure.RATE_LIMITED, code="336501", source=_V1_RATE + " (336501 Rate limit reached for RPM)"),
        ErrorRule(Failure.RATE_LIMITED, code="336502", source=_V1_RATE + " (336502 Rate limit reached for TPM)"),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="6",
            source=_V1 + " (6 No permission to access data: the app may not use this service)",
        ),
        ErrorRule(Failure.AUTH_FAILED, code="14", source=_V1 + " (14 IAM Certification failed)"),
        ErrorRule(Failure.AUTH_FAILED, code="110", source=_V1 + " (110 Access token invalid)"),
        ErrorRule(Failure.AUTH_FAILED, code="111", source=_V1 + " (111 Access token expired)"),
    ),
)
