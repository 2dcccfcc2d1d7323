"""Alibaba Qwen via DashScope / Bailian compatible mode.

Sources: https://help.aliyun.com/en/model-studio/error-code-start , https://help.aliyun.com/zh/model-studio/rate-limit .
International accounts: set the provider's base_url to https://dashscope-intl.aliyuncs.com/compatible-mode/v1
(keys are region-specific). No balance API reachable with the key; output moderation can arrive as an
``error`` object inside an open stream (handled as a mid-stream failure).
Note: "Allocated quota exceeded" is the TPM *rate* limit, not billing; billing is ``Arrearage`` (400)
and ``AllocationQuota.FreeTierOnly`` (403, free quota used with "free tier only" on).
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor

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
    quirks=Quirks(temperature=(0.0, 1.99), top_p=(0.01, 1.0)),
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="Arrearage"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="AllocationQuota.FreeTierOnly"),
        ErrorRule(Failure.RATE_LIMITED, code="Throttling.RateQuota"),
        ErrorRule(Failure.RATE_LIMITED, code="Throttling.AllocationQuota"),
        ErrorRule(Failure.RATE_LIMITED, code="Throttling.BurstRate"),
        ErrorRule(Failure.CONTENT_FILTERED, code="data_inspection_failed"),
        ErrorRule(Failure.CONTEXT_LENGTH, contains="Range of input length should be"),
        ErrorRule(Failure.AUTH_FAILED, code="invalid_api_key"),
        ErrorRule(Failure.AUTH_FAILED, code="InvalidApiKey"),
    ),
)
