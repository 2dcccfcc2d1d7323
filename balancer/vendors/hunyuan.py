"""Tencent Hunyuan via its OpenAI-compatible endpoint (``Authorization: Bearer sk-…``, a console key).

Sources: https://cloud.tencent.com/document/product/1729/111006 (compatible endpoints),
https://www.tencentcloud.com/document/product/1284/75543 (Tencent Cloud API error envelope: HTTP 200 +
``{"Response":{"Error":{"Code","Message"},"RequestId"}}``), the official SDK's
``tencentcloud/hunyuan/v20230901/errorcodes.py`` for product codes, https://cloud.tencent.com/document/api/1729/112207 (5 concurrent requests).

Unconfirmed: the error format of the *compatible* endpoint (research §20). The native envelope is
assumed and recognised (``Response.Error``), and OpenAI-style bodies fall back to the generic rules; moderation
has a code (``OperationDenied.TextIllegalDetected``); context overflow has none, so it is matched on
message words. ``InvalidParameterValue.Model`` (no such model) takes out that model only. Accounts with only a SecretId/SecretKey pair use ``hunyuan-native`` (TC3-signed).
Resource packs are not visible through an API key: no balance probe.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor

_SDK = "github:TencentCloud/tencentcloud-sdk-python tencentcloud/hunyuan/v20230901/errorcodes.py"
_COMMON = "https://www.tencentcloud.com/document/product/1284/75543"  # Tencent Cloud API common error codes

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
    # Turns must alternate: a 400 1001 "messages 中 user（tool） 和 assistant 角色需交替出现 (一问一答)，以 user
    # 提问开始， user（tool）提问结束, tool 可以连续出现多次" (github:FoundationAgents/OpenManus#894;
    # github:lobehub/lobehub#7173), so other histories go to another candidate.
    quirks=Quirks(temperature=(0.0, 2.0), top_p=(0.0, 1.0), alternating_turns=True),
    errors=(
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            code="FailedOperation.FreeResourcePackExhausted",
            source=_SDK + " (免费资源包余量已用尽)",
        ),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED, code="FailedOperation.ResourcePackExhausted", source=_SDK + " (资源包余量已用尽)"
        ),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="FailedOperation.ServiceStopArrears", source=_SDK + " (欠费停服)"),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            code="ResourceInsufficient.ChargeResourceExhaust",
            source=_SDK + " (计费资源已耗尽)",
        ),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="ResourceUnavailable.InArrears", source=_SDK + " (账号已欠费)"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="ResourceUnavailable.LowBalance", source=_SDK + " (余额不足)"),
        ErrorRule(Failure.AUTH_FAILED, code="FailedOperation.ServiceNotActivated", source=_SDK + " (服务未开通)"),
        ErrorRule(Failure.AUTH_FAILED, code="FailedOperation.ServiceStop", source=_SDK + " (用户主动停服)"),
        ErrorRule(Failure.AUTH_FAILED, code="FailedOperation.UserUnAuthError", source=_SDK + " (用户未实名)"),
        ErrorRule(Failure.AUTH_FAILED, code="ResourceUnavailable.StopUsing", source=_SDK + " (账号已停服)"),
        ErrorRule(
            Failure.AUTH_FAILED,
            code="ResourceUnavailable.NotExist",
            source=_SDK + " (计费状态未知，请确认是否已在控制台开通服务)",
        ),
        ErrorRule(Failure.MODEL_UNAVAILABLE, code="InvalidParameterValue.Model", source=_SDK + " (模型不存在)"),
        ErrorRule(Failure.RATE_LIMITED, code="RequestLimitExceeded", source=_COMMON + " (RequestLimitExceeded)"),
        ErrorRule(
            Failure.RATE_LIMITED,
            code="FailedOperation.EngineServerLimitExceeded",
            source=_SDK + " (引擎层请求超过限额；请稍后重试)",
        ),
        ErrorRule(Failure.RATE_LIMITED, code="LimitExceeded", source=_SDK + " (超过配额限制)"),
        ErrorRule(
            Failure.RATE_LIMITED,
            code="2003",
            source='unconfirmed: compatible endpoint, 400 {"error":{"message":"请求限频，请稍后重试","type":"runtime_error","code":"2003"}} seen in a third-party log',
        ),
        ErrorRule(Failure.TIMEOUT, code="FailedOperation.EngineRequestTimeout", source=_SDK + " (引擎层请求超时)"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="FailedOperation.EngineServerError", source=_SDK + " (引擎层内部错误)"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="InternalError", source=_SDK + " (内部错误)"),
        ErrorRule(
            Failure.CONTENT_FILTERED,
            code="OperationDenied.TextIllegalDetected",
            source=_SDK + " (文本包含违法违规信息，审核不通过)",
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED,
            contains="敏感",
            source="unconfirmed: moderation worded with 敏感 on the compatible endpoint (no code documented)",
        ),
        ErrorRule(
            Failure.CONTEXT_LENGTH,
            contains="超过最大",
            source="unconfirmed: context overflow worded with 超过最大 (no code documented)",
        ),
        ErrorRule(Failure.BAD_REQUEST, code="InvalidParameter", source=_SDK + " (参数错误)"),
        ErrorRule(Failure.BAD_REQUEST, code="InvalidParameterValue", source=_SDK + " (参数取值错误)"),
        # The sub-codes are exact codes of their own: without them a bad parameter fell to upstream_error and was
        # retried on every other account.
        ErrorRule(Failure.BAD_REQUEST, code="InvalidParameter.InvalidParameter", source=_SDK + " (参数不合法)"),
        ErrorRule(
            Failure.BAD_REQUEST,
            code="InvalidParameterValue.ParameterValueError",
            source=_SDK + " (参数字段或者值有误)",
        ),
        ErrorRule(
            Failure.BAD_REQUEST,
            code="InvalidParameter.ImageCountLimitExceededError",
            source=_SDK + " (图片数量超限错误)",
        ),
        ErrorRule(Failure.BAD_REQUEST, code="InvalidParameterValue.ImageRequestError", source=_SDK + " (图片请求错误)"),
        ErrorRule(
            Failure.AUTH_FAILED, code="AuthFailure.SecretIdNotFound", source=_COMMON + " (AuthFailure.SecretIdNotFound)"
        ),
        ErrorRule(
            Failure.AUTH_FAILED, code="AuthFailure.SignatureFailure", source=_COMMON + " (AuthFailure.SignatureFailure)"
        ),
        ErrorRule(
            Failure.AUTH_FAILED, code="AuthFailure.SignatureExpire", source=_COMMON + " (AuthFailure.SignatureExpire)"
        ),
    ),
)
