"""Baichuan's error bodies: the status table's messages (https://f8cxtsvnr8.apifox.cn/apidoc/project-3794483/doc-3441122)
in an OpenAI envelope (the envelope is assumed); the content and context bodies are hand-written."""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect


def _err(message: str, type_: str) -> dict[str, object]:
    return {"error": {"code": None, "param": None, "type": type_, "message": message}}


DIALECT = Dialect(
    auth=(401, _err("Invalid Authentication", "invalid_request_error")),
    rate_limit=(429, _err("Rate limit reached for requests", "rate_limit_error")),
    balance_exhausted=(429, _err("Insufficient account balance, please recharge", "insufficient_quota")),
    # Unconfirmed wording: content and context errors are not in the status table.
    content_filter=(400, _err("Input contains sensitive content", "invalid_request_error")),
    context_length=(400, _err("Input length exceeds the maximum context length of model", "invalid_request_error")),
    server_error=(500, _err("Internal server error", "server_error")),
)
