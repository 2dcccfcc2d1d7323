"""SiliconFlow's error bodies (``{"code","message","data"}``) and its ``/user/info`` body (``balance`` =
granted, ``chargeBalance`` = paid, as strings; success is ``code == 20000``; the example of
https://docs.siliconflow.cn/cn/api-reference/userinfo/get-user-info).

Statuses per https://docs.siliconflow.cn/en/faqs/error-codecopy ; the 20012 (unknown model) body as
https://docs.siliconflow.cn/en/faqs/error-code shows it; the 20015 bodies as third-party logs quote them; the rest
hand-written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from balancer.emulator.dialects.base import Dialect, ErrorReply


def render_balance(granted: float, paid: float) -> Mapping[str, Any]:
    return {
        "code": 20000,
        "message": "OK",
        "status": True,
        "data": {
            "id": "userid",
            "name": "username",
            "balance": f"{granted:.2f}",
            "status": "normal",
            "chargeBalance": f"{paid:.2f}",
            "totalBalance": f"{granted + paid:.2f}",
        },
    }


def _err(status: int, code: int, message: str) -> ErrorReply:
    return status, {"code": code, "message": message, "data": None}


DIALECT = Dialect(
    auth=(401, {"message": "Invalid token"}),  # 401 shape from third-party fixtures [3p]
    rate_limit=_err(429, 50603, "Request was rejected due to rate limiting. Details: TPM limit reached."),
    balance_exhausted=_err(403, 30001, "Sorry, your account balance is insufficient"),
    content_filter=_err(400, 20015, "The input contains sensitive content."),
    context_length=_err(400, 20015, "Input validation error: context length exceeded"),
    bad_request=_err(400, 20015, "max_tokens: Input should be a valid integer"),
    server_error=_err(503, 50505, "Model service overloaded. Please try again later."),
    model_unavailable=_err(400, 20012, "Model does not exist. Please check it carefully."),
    balance=render_balance,
)
