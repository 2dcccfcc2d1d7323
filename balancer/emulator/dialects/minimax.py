"""MiniMax's error bodies: HTTP 200 with ``base_resp.status_code != 0``."""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect, ErrorReply


def _err(code: int, message: str) -> ErrorReply:
    return 200, {"id": "0123456789emu", "choices": None, "base_resp": {"status_code": code, "status_msg": message}}


DIALECT = Dialect(
    auth=_err(1004, "login fail: Please carry the API secret key in the 'Authorization' field of the request header"),
    rate_limit=_err(1002, "rate limit exceeded(RPM)"),
    balance_exhausted=_err(1008, "insufficient balance"),
    content_filter=_err(1026, "input new_sensitive"),
    context_length=_err(1039, "token limit"),
    bad_request=_err(2013, "invalid params, temperature out of range"),
    server_error=_err(1033, "system error"),
)
