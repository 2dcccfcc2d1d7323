"""Tencent Hunyuan's native API (``hunyuan.tencentcloudapi.com``, Action ``ChatCompletions``, version
2023-09-01), for accounts that only have a SecretId/SecretKey pair. Requests are signed with
TC3-HMAC-SHA256; bodies use capitalised fields; streams end on ``FinishReason`` without ``[DONE]``;
errors (auth included) are HTTP 200 ``Response.Error``. The hooks map both ways to OpenAI.

Configure the key as ``"<SecretId>:<SecretKey>"``; provider ``extra``: ``host`` (signed host, default
below), ``region``. Sources: one-api ``relay/adaptor/tencent`` [gw] (action, version, capitalised
fields, no ``[DONE]``), https://cloud.tencent.com/document/api/1729/112207 ; signing in ``tc3.py``.
Product error codes as in ``hunyuan.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson

from balancer.vendors import hunyuan, tc3
from balancer.vendors.base import Quirks, Vendor

HOST, SERVICE, ACTION, VERSION = "hunyuan.tencentcloudapi.com", "hunyuan", "ChatCompletions", "2023-09-01"
CONTENT_TYPE = "application/json"
_FIELDS = {"model": "Model", "stream": "Stream", "temperature": "Temperature", "top_p": "TopP"}


def sign(api_key: str, body: bytes, extra: Mapping[str, str], now: float) -> dict[str, str]:
    secret_id, _, secret_key = api_key.partition(":")
    ts = int(now)
    canonical = tc3.canonical_request(body, extra.get("host", HOST), CONTENT_TYPE)
    auth = tc3.authorization(secret_id, secret_key, SERVICE, ts, canonical)
    headers = {"Authorization": auth, "Content-Type": CONTENT_TYPE, "X-TC-Action": ACTION, "X-TC-Version": VERSION}
    return headers | {"X-TC-Timestamp": str(ts)} | ({"X-TC-Region": extra["region"]} if "region" in extra else {})


def map_request(body: bytes) -> bytes:
    data: dict[str, Any] = orjson.loads(body)
    out: dict[str, Any] = {new: data[old] for old, new in _FIELDS.items() if old in data}
    out["Messages"] = [{"Role": m.get("role"), "Content": m.get("content")} for m in data.get("messages", [])]
    return orjson.dumps(out)


_USAGE = (("prompt_tokens", "PromptTokens"), ("completion_tokens", "CompletionTokens"), ("total_tokens", "TotalTokens"))


def _usage(u: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return {ours: u.get(theirs, 0) for ours, theirs in _USAGE} if u else None


def _load(data: bytes) -> dict[str, Any]:
    try:
        loaded = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def map_reply(body: bytes) -> bytes:
    resp = _load(body).get("Response") or {}
    if not resp.get("Choices"):
        return body  # an error (Response.Error) or unknown: classified as it is
    content = resp["Choices"][0].get("Message", {}).get("Content")
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    reply = {"id": resp.get("Id"), "object": "chat.completion", "choices": [choice]}
    return orjson.dumps(reply | {"usage": _usage(resp.get("Usage"))})


def map_chunk(payload: bytes) -> bytes:
    frame = _load(payload)
    if not frame.get("Choices"):
        return payload
    c = frame["Choices"][0]
    delta = {"content": c.get("Delta", {}).get("Content", "")}
    choice = {"index": 0, "delta": delta, "finish_reason": c.get("FinishReason") or None}
    return orjson.dumps({"object": "chat.completion.chunk", "choices": [choice], "usage": _usage(frame.get("Usage"))})


_base = hunyuan.VENDOR
VENDOR = Vendor(
    name="hunyuan-native",
    title="Tencent Hunyuan (native API, TC3 signed)",
    base_url=f"https://{HOST}",
    chat_path="/",
    auth_scheme="TC3-HMAC-SHA256 signed (X-TC-Action/Version/Timestamp); key '<SecretId>:<SecretKey>'",
    docs="https://cloud.tencent.com/document/api/1729/112207",
    # Native Tools and response_format are not mapped: tool calling and JSON output need the compatible
    # endpoint, so a request asking for either skips this vendor (a 400 naming the field when none can).
    models={
        m: dataclasses.replace(i, tools=False, json_mode=False) for m, i in _base.models.items() if i.kind == "chat"
    },
    # ChatCompletions (2023-09-01) has no n and map_request drops it: one choice only, so n > 1 skips it.
    quirks=Quirks(temperature=(0.0, 2.0), top_p=(0.0, 1.0), stream_usage_option=False, sends_done=False, max_n=1),
    errors=_base.errors,
    sign=sign,
    map_request=map_request,
    native_fields=(*_FIELDS, "messages"),
    map_reply=map_reply,
    map_chunk=map_chunk,
)
