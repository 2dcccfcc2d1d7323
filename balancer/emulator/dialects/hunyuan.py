"""Tencent Hunyuan's compatible endpoint: an OpenAI-style 401, the rest Tencent Cloud API errors (HTTP 200 +
``{"Response":{"Error":{"Code","Message"},"RequestId"}}``; the compatible endpoint's own error format is
unconfirmed, the native envelope is assumed)."""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect, ErrorReply


def cloud_error(code: str, message: str) -> ErrorReply:
    return 200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "emu-0000-0000"}}


DIALECT = Dialect(
    auth=(
        401,
        {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "401"}},
    ),
    rate_limit=cloud_error("RequestLimitExceeded", "请求的次数超过了频率限制。"),
    balance_exhausted=cloud_error(
        "FailedOperation.FreeResourcePackExhausted", "免费资源包余量已用尽，请购买资源包或开通后付费。"
    ),
    content_filter=cloud_error("InvalidParameterValue", "输入内容包含敏感信息，请调整后重试。"),
    context_length=cloud_error("InvalidParameterValue", "输入长度超过最大上下文长度限制。"),
    bad_request=cloud_error("InvalidParameter", "参数错误：Messages 不能为空。"),
    server_error=cloud_error("FailedOperation.EngineServerError", "引擎层内部错误。"),
)
