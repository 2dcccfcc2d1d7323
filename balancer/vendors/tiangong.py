"""Kunlun Tiangong (Skywork): not OpenAI-shaped. Requests are signed with headers ``app_key``,
``timestamp`` and ``sign = md5(app_key + app_secret + timestamp)``; the body is ``{messages, intent}``;
the stream sends ``type:1`` frames (text in ``arguments[0].messages[0].text``), a ``type:2`` end frame,
then ``[DONE]``. These hooks translate both ways. Configure the key as ``"<app_key>:<app_secret>"``.
Sources: several third-party clients and the doc pointer https://model-platform.tiangong.cn/api-reference
[3p; research §7]. Not found anywhere and therefore assumed (override by editing the table): the
non-stream reply (taken to be one frame of the stream's shape), whether ``type:1`` text is incremental
(assumed yes), usage placement (assumed on the end frame), error codes/bodies (``{"code","message"}``,
statuses as below), prices, limits. No balance API.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor

_ASSUMED = (
    "unconfirmed: no Tiangong error table found anywhere; code and status assumed (edit or override per provider)"
)

_KEPT = ("model", "messages", "stream")


def _sign(app_key: str, secret: str, ts: str) -> str:
    return hashlib.md5((app_key + secret + ts).encode(), usedforsecurity=False).hexdigest()


def sign(api_key: str, body: bytes, extra: Mapping[str, str], now: float) -> dict[str, str]:
    app_key, _, secret = api_key.partition(":")
    ts = str(int(now))
    return {"app_key": app_key, "timestamp": ts, "sign": _sign(app_key, secret, ts)}


def map_request(body: bytes) -> bytes:
    data: dict[str, Any] = orjson.loads(body)
    out = {k: data[k] for k in _KEPT if k in data}
    out["intent"] = "chat"  # plain chat; "" lets the service add search augmentation
    return orjson.dumps(out)


def _text(frame: Mapping[str, Any]) -> str | None:
    try:
        return str(frame["arguments"][0]["messages"][0]["text"])
    except (KeyError, IndexError, TypeError):
        return None


def _load(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def map_chunk(payload: bytes) -> bytes:
    frame = _load(payload)
    if not isinstance(frame, dict) or frame.get("type") not in (1, 2):
        return payload  # an error body or something unknown: classified as it is
    end = frame["type"] == 2
    delta = {} if end else {"content": _text(frame) or ""}
    chunk: dict[str, Any] = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if end else None}],
    }
    if "usage" in frame:
        chunk["usage"] = frame["usage"]
    return orjson.dumps(chunk)


def map_reply(body: bytes) -> bytes:
    frame = _load(body)
    text = _text(frame) if isinstance(frame, dict) else None
    if not isinstance(frame, dict) or text is None:
        return body
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    return orjson.dumps({"object": "chat.completion", "choices": [choice], "usage": frame.get("usage")})


VENDOR = Vendor(
    name="tiangong",
    title="Kunlun Tiangong (Skywork)",
    base_url="https://api-maas.singularity-ai.com/sky-work/api/v1",
    chat_path="/chat",
    auth_scheme="signed headers app_key, timestamp, sign=md5(app_key+app_secret+timestamp); key '<app_key>:<secret>'",
    docs="https://model-platform.tiangong.cn/api-reference",
    models={"SkyChat-MegaVerse": ModelInfo(8_192, 4_096, tools=False, json_mode=False, price_known=False)},
    # The native body has no n (map_request keeps model, messages, stream): one choice only, so n > 1 skips it.
    quirks=Quirks(stream_usage_option=False, max_n=1),
    sign=sign,
    map_request=map_request,
    native_fields=_KEPT,
    map_reply=map_reply,
    map_chunk=map_chunk,
    errors=(
        ErrorRule(Failure.AUTH_FAILED, status=401, source=_ASSUMED),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="40201", source=_ASSUMED),
        ErrorRule(Failure.RATE_LIMITED, status=429, source=_ASSUMED),
        ErrorRule(Failure.CONTENT_FILTERED, code="40003", source=_ASSUMED),
        ErrorRule(Failure.CONTEXT_LENGTH, code="40004", source=_ASSUMED),
    ),
)
