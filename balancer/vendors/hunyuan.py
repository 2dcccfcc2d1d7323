"""Tencent Hunyuan via its OpenAI-compatible endpoint (``Authorization: Bearer sk-…``, a console key).

Sources: https://cloud.tencent.com/document/product/1729/111006 (compatible endpoints),
https://www.tencentcloud.com/document/product/1284/75543 (Tencent Cloud API error envelope: HTTP 200 +
``{"Response":{"Error":{"Code","Message"},"RequestId"}}``), tencentcloud-sdk ``HunyuanErrorCode`` [3p]
for product codes, https://cloud.tencent.com/document/api/1729/112207 (5 concurrent requests).

Unconfirmed: the error format of the *compatible* endpoint (research §20). The native envelope is
assumed and recognised (``Response.Error``), and OpenAI-style bodies fall back to the generic rules; the
codes for content moderation and context overflow are not in the sources, so those two are matched on
message words. Accounts with only a SecretId/SecretKey pair use ``hunyuan-native`` (TC3-signed).
Resource packs are not visible through an API key: no balance probe.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor

VENDOR = Vendor(
    name="hunyuan",
    title="Tencent Hunyuan",
    base_url="https://api.hunyuan.cloud.tencent.com/v1",
    docs="https://cloud.tencent.com/document/product/1729/111006",
    models={
        # 2025-06 list prices (3p syaoranwe); hunyuan-lite free since May 2024.
        "hunyuan-t1-latest": ModelInfo(65_536, 32_768, 1.0, 4.0),
        "hunyuan-turbos-latest": ModelInfo(32_768, 16_384, 0.8, 2.0),
        "hunyuan-turbo": ModelInfo(32_768, 4_096, 2.4, 9.6),
        "hunyuan-large": ModelInfo(32_768, 4_096, 4.0, 12.0),
        "hunyuan-standard": ModelInfo(32_768, 2_048, 0.8, 2.0),
        "hunyuan-lite": ModelInfo(256_000, 6_144, 0.0, 0.0, tools=False),
        "hunyuan-embedding": ModelInfo(1_024, None, 0.7, 0.0, kind="embeddings"),
    },
    # Native API: Temperature [0, 2], TopP [0, 1]; assumed for the compatible endpoint (override: provider extra).
    quirks=Quirks(temperature=(0.0, 2.0), top_p=(0.0, 1.0)),
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="FailedOperation.FreeResourcePackExhausted"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="FailedOperation.ResourcePackExhausted"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="FailedOperation.ServiceStopArrears"),
        ErrorRule(Failure.AUTH_FAILED, code="FailedOperation.ServiceNotActivated"),
        ErrorRule(Failure.AUTH_FAILED, code="FailedOperation.ServiceStop"),
        ErrorRule(Failure.RATE_LIMITED, code="RequestLimitExceeded"),
        ErrorRule(Failure.RATE_LIMITED, code="FailedOperation.EngineServerLimitExceeded"),
        ErrorRule(Failure.TIMEOUT, code="FailedOperation.EngineRequestTimeout"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="FailedOperation.EngineServerError"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="InternalError"),
        ErrorRule(Failure.CONTENT_FILTERED, contains="敏感"),
        ErrorRule(Failure.CONTEXT_LENGTH, contains="超过最大"),
        ErrorRule(Failure.BAD_REQUEST, code="InvalidParameter"),
        ErrorRule(Failure.BAD_REQUEST, code="InvalidParameterValue"),
        ErrorRule(Failure.AUTH_FAILED, code="AuthFailure.SecretIdNotFound"),
        ErrorRule(Failure.AUTH_FAILED, code="AuthFailure.SignatureFailure"),
        ErrorRule(Failure.AUTH_FAILED, status=401),
    ),
)
