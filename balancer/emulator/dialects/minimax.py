"""MiniMax's error bodies: HTTP 200 with ``base_resp.status_code != 0``.

Codes and messages from https://platform.minimax.io/docs/api-reference/errorcode (2049 = invalid API key;
1039 "token limit" is a rate); the HTTP-200 envelope as third-party fixtures show it (research vendors-api.md
§13). No context-length code is documented: that body is hand-written.
"""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect, ErrorReply


def _err(code: int, message: str) -> ErrorReply:
    return 200, {"id": "0123456789abcdef", "choices": None, "base_resp": {"status_code": code, "status_msg": message}}


def _in_400(message: str) -> ErrorReply:
    return 400, {"error": {"message": message, "type": "bad_request_error", "param": "", "code": None}}


DIALECT = Dialect(
    auth=_err(2049, "invalid api key"),
    rate_limit=_err(1002, "rate limit"),
    balance_exhausted=_err(1008, "insufficient balance"),
    content_filter=_err(1026, "input new_sensitive"),
    context_length=_err(2013, "invalid params, context window exceeds limit"),  # hand-written
    bad_request=_err(2013, "invalid params"),
    server_error=_err(1033, "system error"),
    model_unavailable=_err(2013, "invalid params, fail to get model info"),  # as a third-party guide quotes it
    # The role "developer": 2013 "invalid params, invalid role: developer" (github:openclaw/openclaw#3022, MiniMax-M2.1).
    no_developer_role=_err(2013, "invalid params, invalid role: developer"),
    # One system message, first (github:MiniMax-AI/MiniMax-M2#51, a MiniMax engineer: several are not supported yet,
    # merge them; #27: several, or one not first). Bodies as a user quoted them (github:BigPizzaV3/CodexPlusPlus#267):
    # HTTP 400 in OpenAI's envelope, the code in the message.
    one_system_first=(
        _in_400("invalid params, invalid chat setting (2013)"),
        _in_400("invalid params, chat content has invalid message role: system (2013)"),
    ),
)
