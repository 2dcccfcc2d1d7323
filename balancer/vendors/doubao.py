"""ByteDance Doubao on Volcengine Ark: OpenAI-compatible, Bearer ARK key; ``model`` is a model id or
an endpoint id ``ep-…``.

Sources: https://www.volcengine.com/docs/82379/1299023 and /1099476 (error codes), one-api
``relay/adaptor/doubao`` (base URL). Errors are ``{"error":{"code","message","param","type"}}`` with
``type`` the HTTP class name. 429 is split by code: ``RateLimitExceeded.*`` / ``…RateLimitExceeded`` /
``RequestBurstTooFast`` are transient, ``ServerOverloaded`` is the platform's fault, ``QuotaExceeded``
(free trial used in safe-experience mode) and ``SetLimitExceeded`` (the user's own inference cap) are
terminal until the owner acts. The 429 codes come from several third-party client mappings, consistent
with each other [3p]. No balance API with an ARK key (the AK/SK billing API is not implemented).
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Vendor

VENDOR = Vendor(
    name="doubao",
    title="ByteDance Doubao (Volcengine Ark)",
    base_url="https://ark.cn-beijing.volces.com/api/v3",
    docs="https://www.volcengine.com/docs/82379/1299023",
    models={
        # 2025-06 list prices (3p syaoranwe), input tier < 32K.
        "doubao-seed-1-6-251015": ModelInfo(262_144, 32_768, 0.8, 8.0, vision=True),
        "doubao-seed-1-6-flash-250828": ModelInfo(262_144, 32_768, 0.15, 1.5, vision=True),
        "doubao-1-5-pro-32k-250115": ModelInfo(32_768, 12_288, 0.8, 2.0),
        "doubao-1-5-thinking-pro-250415": ModelInfo(131_072, 16_384, 4.0, 16.0),
        "doubao-embedding-text-240715": ModelInfo(4_096, None, 0.5, 0.0, kind="embeddings"),
    },
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="AccountOverdueError"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="QuotaExceeded"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="SetLimitExceeded"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="ServerOverloaded"),
        ErrorRule(Failure.RATE_LIMITED, status=429),
        ErrorRule(Failure.CONTENT_FILTERED, code="InputTextRiskDetection"),
        ErrorRule(Failure.CONTENT_FILTERED, code="OutputTextRiskDetection"),
        ErrorRule(Failure.CONTENT_FILTERED, code="SensitiveContentDetected"),
        ErrorRule(Failure.CONTENT_FILTERED, code="SensitiveContentDetected.SevereViolation"),
        ErrorRule(Failure.CONTENT_FILTERED, code="SensitiveContentDetected.Violence"),
        ErrorRule(Failure.CONTEXT_LENGTH, code="OutofContextError"),
        ErrorRule(Failure.AUTH_FAILED, code="AuthenticationError"),
        ErrorRule(Failure.AUTH_FAILED, code="AccessDenied"),
        ErrorRule(Failure.BAD_REQUEST, code="ModelNotOpen"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="InternalServiceError"),
    ),
)
