"""Tencent Hunyuan's native API from the vendor's side: capitalised request and reply fields, stream chunks
ending on ``FinishReason`` (the vendor's quirks say no ``[DONE]``), every error (auth included) an HTTP 200
``Response.Error`` as on the compatible endpoint, and a TC3-HMAC-SHA256 signature check. Signatures are
verified for the default host only.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
from collections.abc import Mapping
from typing import Any

from balancer.emulator.dialects import hunyuan
from balancer.vendors import hunyuan_native as vendor
from balancer.vendors import tc3

_AUTH = re.compile(
    r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d\d-\d\d)/([^/]+)/tc3_request, "
    r"SignedHeaders=content-type;host, Signature=([0-9a-f]{64})"
)
_FIELDS = {"model": "Model", "stream": "Stream", "temperature": "Temperature", "top_p": "TopP"}
_USAGE = (("prompt_tokens", "PromptTokens"), ("completion_tokens", "CompletionTokens"), ("total_tokens", "TotalTokens"))


def verify(header: str, secret_id: str | None, secret_key: str, timestamp: int, canonical: str) -> bool:
    """A TC3 Authorization header's shape, and with ``secret_id`` given, that it was signed with that key pair."""
    m = _AUTH.fullmatch(header)
    if m is None:
        return False
    if secret_id is None:
        return True
    want = tc3.signature(secret_key, m.group(3), timestamp, canonical)
    return m.group(1) == secret_id and hmac.compare_digest(m.group(4), want)


def check_auth(headers: Mapping[str, str], key: str | None, body: bytes, now: float) -> bool:
    """The header's shape, the action, a fresh timestamp and, with a key set, the signature."""
    ts = headers.get("X-TC-Timestamp", "")
    if headers.get("X-TC-Action") != vendor.ACTION or not ts.isdigit() or abs(now - int(ts)) > 300:
        return False
    secret_id, _, secret_key = key.partition(":") if key is not None else (None, "", "")
    canonical = tc3.canonical_request(body, vendor.HOST, vendor.CONTENT_TYPE)
    return verify(headers.get("Authorization", ""), secret_id, secret_key, int(ts), canonical)


def _native_usage(u: Mapping[str, Any] | None) -> dict[str, Any]:
    return {theirs: (u or {}).get(ours, 0) for ours, theirs in _USAGE}


def parse_request(body: dict[str, Any]) -> dict[str, Any]:
    out = {old: body[new] for old, new in _FIELDS.items() if new in body}
    return out | {"messages": [{"role": m["Role"], "content": m["Content"]} for m in body.get("Messages", [])]}


def render_reply(reply: dict[str, Any]) -> dict[str, Any]:
    content = reply["choices"][0]["message"].get("content") or ""
    choice = {"Message": {"Role": "assistant", "Content": content}, "FinishReason": "stop"}
    usage = _native_usage(reply.get("usage"))
    return {"Response": {"Id": reply["id"], "Choices": [choice], "Usage": usage, "RequestId": "emu-0000"}}


def render_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    c = (chunk.get("choices") or [{}])[0]
    delta = {"Role": "assistant", "Content": c.get("delta", {}).get("content") or ""}
    choice = {"Delta": delta, "FinishReason": c.get("finish_reason") or ""}
    return {"Id": chunk.get("id"), "Choices": [choice], "Usage": _native_usage(chunk.get("usage"))}


DIALECT = dataclasses.replace(
    hunyuan.DIALECT,
    auth=hunyuan.cloud_error(
        "AuthFailure.SignatureFailure",
        "The provided credentials could not be validated. Please check your signature is correct.",
    ),
    parse_request=parse_request,
    render_reply=render_reply,
    render_chunk=render_chunk,
    check_auth=check_auth,
    not_alternating=None,  # the compatible endpoint's 400 was seen; the native API's answer was not found
)
