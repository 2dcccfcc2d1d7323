"""Doubao (Volcengine Ark) error bodies: ``{"error":{"code","message","param","type"}}``, ``type`` the HTTP
class name, the message ending with a request id.

Codes, types and messages from the tables of https://www.volcengine.com/docs/82379/1299023 (公共错误码) and
https://www.volcengine.com/docs/82379/1099476 , placeholders filled in; the 429 bodies (codes from third-party
client mappings) and the context message are hand-written.
"""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect, ErrorReply


def _err(status: int, code: str, message: str, type_: str) -> ErrorReply:
    return status, {"error": {"code": code, "message": message, "param": "", "type": type_}}


_RID = "Request ID: 0217000000000000000000000000000000000000000000000"

DIALECT = Dialect(
    auth=_err(
        401, "AuthenticationError", f"The API key or AK/SK in the request is missing or invalid. {_RID}", "Unauthorized"
    ),
    rate_limit=_err(
        429,
        "RateLimitExceeded.EndpointRPMExceeded",
        f"The request has exceeded the RPM limit of the endpoint. {_RID}",
        "TooManyRequests",
    ),
    balance_exhausted=_err(
        403,
        "AccountOverdueError",
        f"The request failed because your account has an overdue balance. {_RID}",
        "Forbidden",
    ),
    content_filter=_err(
        400,
        "InputTextRiskDetection",
        "The request could not be processed because the input text includes sensitive content that violates "
        "ContentSecurityDetection.ARKRequest ID:0217000000000000000000000000000000000000000000000;CSDRequestId:0;"
        "Label:0;SubLabel:0",
        "BadRequest",
    ),
    context_length=_err(
        400,
        "OutofContextError",
        f"The total tokens of text and image exceed the context window. {_RID}",
        "BadRequest",
    ),
    bad_request=_err(
        400, "InvalidParameter", f"One or more parameters specified in the request are not valid. {_RID}", "BadRequest"
    ),
    server_error=_err(
        429, "ServerOverloaded", f"The service is overloaded, please try again later. {_RID}", "TooManyRequests"
    ),
    model_unavailable=_err(
        404,
        "ModelNotOpen",
        "Your account 2100000000 has not activated the model doubao-seed-1-6-251015. Please activate the model "
        "service in the Ark Console.",
        "NotFound",
    ),
    # An image for a text model: the message github:tencent-connect/openclaw-qqbot#111 quotes, in Ark's envelope.
    text_only=_err(400, "InvalidParameter", f"Model do not support image input. {_RID}", "BadRequest"),
    # The role "developer", as github:agno-agi/agno#6697 quotes Ark's answer (2026-02).
    no_developer_role=_err(
        400,
        "InvalidParameter",
        "The parameter `messages.role` specified in the request are not valid: invalid value: `developer`, supported "
        f"values are: `system`, `assistant`, `user`, `tool`. {_RID}",
        "BadRequest",
    ),
)
