"""ByteDance Doubao on Volcengine Ark: OpenAI-compatible, Bearer ARK key; ``model`` is a model id or
an endpoint id ``ep-…``.

Sources: https://www.volcengine.com/docs/82379/1299023 and /1099476 (error codes), one-api
``relay/adaptor/doubao`` (base URL). Errors are ``{"error":{"code","message","param","type"}}`` with
``type`` the HTTP class name. 429 is split by code: ``RateLimitExceeded.*`` / ``…RateLimitExceeded`` /
``RequestBurstTooFast`` are transient (the status rule), ``ServerOverloaded`` is the platform's fault,
``QuotaExceeded`` (one model's free trial used in safe-experience mode) and ``SetLimitExceeded`` (the
user's own cap for one model) take out that model until the owner acts, like ``ModelNotOpen``. The 429 codes come from several third-party client mappings, consistent
with each other [3p]. No balance API with an ARK key (the AK/SK billing API is not implemented).
No ``batch``: Ark's batch jobs read their input from TOS and are created in the console or the AK/SK-signed
OpenAPI (https://www.volcengine.com/docs/82379/1305505); ``POST /api/v3/batch/chat/completions`` (an ``ep-bi-``
endpoint, https://www.volcengine.com/docs/82379/1449576) is one request at a time with higher rate limits, and
its price was not found — neither is an OpenAI-style files + batches API the gateway could forward to.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor

_COMMON = "https://www.volcengine.com/docs/82379/1299023"  # 公共错误码
_CODES = "https://www.volcengine.com/docs/82379/1099476"  # 错误码
_3P = "unconfirmed: 429 codes from several third-party client mappings (research vendors-api.md §11)"

VENDOR = Vendor(
    name="doubao",
    title="ByteDance Doubao (Volcengine Ark)",
    base_url="https://ark.cn-beijing.volces.com/api/v3",
    docs="https://www.volcengine.com/docs/82379/1299023",
    models={
        # 2025-06 list prices (3p syaoranwe), input tier < 32K.
        "doubao-seed-1-6-251015": ModelInfo(262_144, 32_768, 0.8, 8.0, vision=True),
        "doubao-seed-1-6-flash-250828": ModelInfo(262_144, 32_768, 0.15, 1.5, vision=True),
        # Text only (their vision siblings are other ids): Ark answers an image for a text model with a 400 "Model do
        # not support image input" (github:tencent-connect/openclaw-qqbot#111).
        "doubao-1-5-pro-32k-250115": ModelInfo(32_768, 12_288, 0.8, 2.0, vision=False),
        "doubao-1-5-thinking-pro-250415": ModelInfo(131_072, 16_384, 4.0, 16.0, vision=False),
        "doubao-embedding-text-240715": ModelInfo(4_096, None, 0.5, 0.0, kind="embeddings"),
    },
    # The role "developer" is a 400 InvalidParameter "... invalid value: `developer`, supported values are: `system`,
    # `assistant`, `user`, `tool`" (github:agno-agi/agno#6697): sent as "system".
    quirks=Quirks(developer_as_system=True),
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="AccountOverdueError", source=_COMMON + " (403 AccountOverdueError)"),
        ErrorRule(Failure.AUTH_FAILED, code="AuthenticationError", source=_COMMON + " (401 AuthenticationError)"),
        # Model-level: a model or endpoint this account may not use, has not activated or has closed.
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="ModelNotOpen",
            source=_COMMON + " (404 ModelNotOpen: the account has not activated the model)",
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="InvalidEndpointOrModel.NotFound",
            source=_COMMON + " (404 the model or endpoint does not exist or no access)",
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="InvalidEndpoint.ClosedEndpoint",
            source=_COMMON + " (400 the endpoint is closed or temporarily unavailable)",
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="AccessDenied",
            source=_COMMON + " (403 AccessDenied: no access to the requested resource)",
        ),
        # Per model too: the model's free trial used up in safe-experience mode, or the user's cap for the model.
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="QuotaExceeded",
            source=_3P + " (429 QuotaExceeded: Account %s has exhausted the free trial quota for model %s)",
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="SetLimitExceeded",
            source=_3P + " (429 SetLimitExceeded: the user-set inference limit of the model)",
        ),
        ErrorRule(Failure.UPSTREAM_ERROR, code="ServerOverloaded", source=_3P + " (429 ServerOverloaded)"),
        ErrorRule(
            Failure.CONTENT_FILTERED, code="InputTextRiskDetection", source=_CODES + " (400 InputTextRiskDetection)"
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED, code="InputImageRiskDetection", source=_CODES + " (400 InputImageRiskDetection)"
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED, code="OutputTextRiskDetection", source=_CODES + " (400 OutputTextRiskDetection)"
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED, code="SensitiveContentDetected", source=_CODES + " (400 SensitiveContentDetected)"
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED,
            code="SensitiveContentDetected.SevereViolation",
            source=_CODES + " (400 SensitiveContentDetected.SevereViolation)",
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED,
            code="SensitiveContentDetected.Violence",
            source=_CODES + " (400 SensitiveContentDetected.Violence)",
        ),
        ErrorRule(Failure.CONTEXT_LENGTH, code="OutofContextError", source=_CODES + " (400 OutofContextError)"),
    ),
)
