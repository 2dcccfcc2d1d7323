"""Alibaba Qwen via DashScope / Bailian compatible mode.

Sources: https://help.aliyun.com/en/model-studio/error-code-start , https://help.aliyun.com/zh/model-studio/rate-limit .
International accounts: set the provider's base_url to https://dashscope-intl.aliyuncs.com/compatible-mode/v1
(keys are region-specific). No balance API reachable with the key; output moderation can arrive as an
``error`` object inside an open stream (handled as a mid-stream failure).
Note: "Allocated quota exceeded" / "You exceeded your current quota" (429 ``insufficient_quota`` in
compatible mode) is the TPM *rate* limit, not billing; billing is ``Arrearage`` (400), the bill-overdue
codes, "Free allocated quota exceeded" and ``AllocationQuota.FreeTierOnly`` (403, free quota used with
"free tier only" on). A model the account may not use (not purchased, no access, not in the region)
takes out that model only.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import BatchApi, ErrorRule, ModelInfo, Quirks, Vendor

_ERRORS = "https://help.aliyun.com/zh/model-studio/error-code"
_ERRORS_EN = "https://help.aliyun.com/en/model-studio/error-code-start"
_RATE = "https://help.aliyun.com/zh/model-studio/rate-limit"
# The native status-code table (alibabacloud.com/help/en/model-studio/developer-reference/error-code), read
# as copied into a third-party gateway, not on Alibaba's page itself.
_TABLE_3P = (
    "unconfirmed: Model Studio status-code table as copied in github:eolinker/apinto drivers/ai-provider/tongyi/mode.go"
)

VENDOR = Vendor(
    name="qwen",
    title="Alibaba Qwen (DashScope / Bailian)",
    base_url="https://dashscope.aliyuncs.com/compatible-mode/v1",
    docs="https://help.aliyun.com/en/model-studio/error-code-start",
    models={
        "qwen3-max": ModelInfo(262_144, 65_536, 2.5, 10.0),
        "qwen-max": ModelInfo(32_768, 8_192, 2.4, 9.6),
        "qwen-plus": ModelInfo(131_072, 16_384, 0.8, 2.0),
        "qwen-turbo": ModelInfo(1_000_000, 16_384, 0.3, 0.6),
        "qwen-long": ModelInfo(10_000_000, 8_192, 0.5, 2.0),
        "qwen-vl-max": ModelInfo(131_072, 8_192, vision=True, price_known=False),
        "text-embedding-v3": ModelInfo(8_192, None, 0.5, 0.0, kind="embeddings"),
    },
    # temperature [0, 2) and top_p (0, 1] are the commonly cited ranges (unconfirmed; see research §20;
    # override per provider with extra temperature/top_p "lo,hi").
    # The role "developer" is a 400 "developer is not one of ['system', 'assistant', 'user', 'tool', 'function']"
    # (github:BenedictKing/ccx#161, github:openclaw/openclaw#14040): sent as "system".
    quirks=Quirks(temperature=(0.0, 1.99), top_p=(0.01, 1.0), developer_as_system=True),
    # OpenAI-compatible files + batches under compatible-mode (https://help.aliyun.com/zh/dashscope/developer-reference/openai-batch-interface:
    # purpose=batch, completion_window 24h, ≤50,000 requests and 100 MB a file); "50% of the cost of real-time
    # inference" (https://help.aliyun.com/en/model-studio/batch-inference).
    batch=BatchApi(
        endpoint="/v1/chat/completions",
        price_factor=0.5,
        source="https://help.aliyun.com/en/model-studio/batch-inference",
    ),
    errors=(
        # Compatible mode answers the per-minute TOKEN limit with 429 insufficient_quota ("Allocated quota
        # exceeded" / "You exceeded your current quota"): a rate limit. Only the free quota used up is quota.
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            contains="Free allocated quota exceeded",
            source=_ERRORS + " (429 free quota exhausted)",
        ),
        ErrorRule(
            Failure.RATE_LIMITED,
            code="insufficient_quota",
            source=_RATE + " (Allocated quota exceeded / You exceeded your current quota = TPM)",
        ),
        ErrorRule(
            Failure.RATE_LIMITED,
            type="insufficient_quota",
            source=_RATE + " (Allocated quota exceeded / You exceeded your current quota = TPM)",
        ),
        ErrorRule(
            Failure.RATE_LIMITED,
            code="Throttling.AllocationQuota",
            source=_ERRORS_EN + " (429 Throttling.AllocationQuota)",
        ),
        ErrorRule(Failure.RATE_LIMITED, code="Throttling.RateQuota", source=_ERRORS_EN + " (429 Throttling.RateQuota)"),
        ErrorRule(
            Failure.RATE_LIMITED, code="Throttling.BurstRate", source=_RATE + " (Request rate increased too quickly)"
        ),
        ErrorRule(Failure.RATE_LIMITED, code="Throttling", source=_TABLE_3P + " (429 Throttling)"),
        ErrorRule(Failure.RATE_LIMITED, code="LimitRequests", source=_TABLE_3P + " (429 LimitRequests)"),
        ErrorRule(
            Failure.RATE_LIMITED, code="limit_requests", source=_ERRORS + " (compatible mode: per-minute request limit)"
        ),
        ErrorRule(
            Failure.RATE_LIMITED, code="limit_burst_rate", source=_ERRORS + " (compatible mode: burst protection)"
        ),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="Arrearage", source=_ERRORS + " (400 Arrearage: overdue payment)"),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            code="AllocationQuota.FreeTierOnly",
            source=_RATE + " (403 when the free quota is used up with 免费额度用完即停 on)",
        ),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED, code="PrepaidBillOverdue", source=_TABLE_3P + " (429 The prepaid bill is overdue)"
        ),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            code="PostpaidBillOverdue",
            source=_TABLE_3P + " (429 The postpaid bill is overdue)",
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="ModelNotFound",
            source=_ERRORS_EN + " (404 ModelNotFound: not available in the region)",
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE, code="Model.AccessDenied", source=_TABLE_3P + " (403 Model access denied)"
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="AccessDenied.Unpurchased",
            source=_TABLE_3P + " (403 Access to model denied)",
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="CommodityNotPurchased",
            source=_TABLE_3P + " (429 Commodity has not purchased yet)",
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED, code="data_inspection_failed", source=_ERRORS + " (400 data_inspection_failed)"
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED, code="DataInspectionFailed", source=_TABLE_3P + " (400 DataInspectionFailed)"
        ),
        ErrorRule(
            Failure.CONTEXT_LENGTH,
            contains="Range of input length should be",
            source="https://www.alibabacloud.com/help/en/model-studio/coding-plan-faq (400 InvalidParameter: Range of input length should be [1, xxx])",
        ),
        ErrorRule(
            Failure.AUTH_FAILED, code="invalid_api_key", source=_ERRORS_EN + " (401 InvalidApiKey/invalid_api_key)"
        ),
        ErrorRule(
            Failure.AUTH_FAILED, code="InvalidApiKey", source=_ERRORS_EN + " (401 InvalidApiKey/invalid_api_key)"
        ),
    ),
)
