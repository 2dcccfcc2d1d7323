"""Tencent Hunyuan's compatible endpoint: an OpenAI-style 401, the rest Tencent Cloud API errors (HTTP 200 +
``{"Response":{"Error":{"Code","Message"},"RequestId"}}``, the envelope of
https://www.tencentcloud.com/document/product/1284/75543). Codes and messages from the official SDK's
``tencentcloud/hunyuan/v20230901/errorcodes.py`` (github:TencentCloud/tencentcloud-sdk-python); the compatible
endpoint's own error format is unconfirmed, the 401 and the context-length body are hand-written.
"""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect, ErrorReply


def cloud_error(code: str, message: str) -> ErrorReply:
    return 200, {
        "Response": {"Error": {"Code": code, "Message": message}, "RequestId": "eac6b301-a322-493a-8e36-83b295459397"}
    }


DIALECT = Dialect(
    # Turns that do not alternate: the body github:FoundationAgents/OpenManus#894 quotes (2025-03).
    not_alternating=(
        400,
        {
            "error": {
                "id": "3d98282009c094e0c9b7b11afc919ada",
                "message": "messages 中 user（tool） 和 assistant 角色需交替出现 (一问一答)，以 user 提问开始， "
                "user（tool）提问结束, tool 可以连续出现多次",
                "type": "invalid_request_error",
                "param": None,
                "code": "1001",
            }
        },
    ),
    auth=(
        401,
        {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "401"}},
    ),
    rate_limit=cloud_error("RequestLimitExceeded", "请求的次数超过了频率限制。"),
    balance_exhausted=cloud_error(
        "FailedOperation.FreeResourcePackExhausted", "免费资源包余量已用尽，请购买资源包或开通后付费。"
    ),
    content_filter=cloud_error("OperationDenied.TextIllegalDetected", "文本包含违法违规信息，审核不通过。"),
    context_length=cloud_error("InvalidParameterValue", "输入长度超过最大上下文长度限制。"),
    bad_request=cloud_error("InvalidParameter", "参数错误。"),
    server_error=cloud_error("FailedOperation.EngineServerError", "引擎层内部错误；请稍后重试。"),
    model_unavailable=cloud_error("InvalidParameterValue.Model", "模型不存在。"),
)
