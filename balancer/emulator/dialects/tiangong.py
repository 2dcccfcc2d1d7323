"""Kunlun Tiangong (Skywork) from the vendor's side: the md5 signature check, replies as ``type`` frames
(text in ``arguments[0].messages[0].text``; ``type:1`` pieces, a ``type:2`` end frame with usage; the
non-stream reply one end frame), and ``{"code","message"}`` errors. Only the signature and the stream
frames are from sources; the reply, usage placement and error bodies are assumed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from balancer.emulator.dialects.base import Dialect, ErrorReply


def _sign(app_key: str, secret: str, ts: str) -> str:
    return hashlib.md5((app_key + secret + ts).encode(), usedforsecurity=False).hexdigest()


def check_auth(headers: Mapping[str, str], key: str | None, body: bytes, now: float) -> bool:
    """All three headers, a timestamp under 5 minutes old and, with a key set, md5(app_key + secret + timestamp)."""
    app_key, ts, got = headers.get("app_key", ""), headers.get("timestamp", ""), headers.get("sign", "")
    if not app_key or not ts.isdigit() or len(got) != 32 or abs(now - int(ts)) > 300:
        return False
    if key is None:
        return all(c in "0123456789abcdef" for c in got)
    want_key, _, secret = key.partition(":")
    return app_key == want_key and hmac.compare_digest(got, _sign(app_key, secret, ts))


def _frame(kind: int, text: str, usage: Any = None) -> dict[str, Any]:
    extra = {"usage": usage} if usage is not None else {}
    return {"type": kind, "arguments": [{"messages": [{"text": text, "author": "bot"}]}], **extra}


def render_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    choice = (chunk.get("choices") or [{}])[0]
    if choice.get("finish_reason") or not chunk.get("choices"):
        return _frame(2, "", chunk.get("usage"))
    return _frame(1, choice.get("delta", {}).get("content") or "")


def render_reply(reply: dict[str, Any]) -> dict[str, Any]:
    return _frame(2, reply["choices"][0]["message"].get("content") or "", reply.get("usage"))


def _err(status: int, code: int, message: str) -> ErrorReply:
    return status, {"code": code, "message": message}


DIALECT = Dialect(
    auth=_err(401, 40100, "sign verify failed"),
    rate_limit=_err(429, 42900, "request too frequent"),
    balance_exhausted=_err(402, 40201, "token balance insufficient"),
    content_filter=_err(400, 40003, "content risk detected"),
    context_length=_err(400, 40004, "messages too long"),
    bad_request=_err(400, 40000, "invalid messages"),
    server_error=_err(500, 50000, "internal error"),
    render_reply=render_reply,
    render_chunk=render_chunk,
    check_auth=check_auth,
)
