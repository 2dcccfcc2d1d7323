"""Replies reshaped where a vendor's differs from what OpenAI's SDKs read: embeddings in the encoding the client
asked for, and a stream's usage on its own final chunk (``choices: []``) where a vendor puts it inside a choice.
Each runs on one reply or one chunk only, never on the hot path of every chunk."""

from __future__ import annotations

import base64
import struct
from typing import Any

import msgspec
import orjson

from balancer import wire


def embeddings_base64(body: bytes) -> bytes:
    """An embeddings reply with every float vector as OpenAI's base64 (little-endian float32), as a client that
    sent ``encoding_format: "base64"`` decodes it (the Node SDK asks for it by default); a vector already a string
    is left alone, and a body that is not an embeddings list is returned as it is. Raises when a vector cannot be
    written so (an item no float, a number no float32 holds) or the reply not again (orjson writes 254 levels), or
    when it cannot be read (5000 digits): never float vectors to a client that asked for base64."""
    try:
        reply, by_orjson = orjson.loads(body), True
    except orjson.JSONDecodeError:  # a number orjson does not read (a usage count of 400 digits): msgspec does
        reply, by_orjson = wire.loads_any(body), False  # or raises msgspec.DecodeError
    items = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(items, list):
        return body
    for item in items:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(vector, list):
            item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return orjson.dumps(reply) if by_orjson else wire.encoder.encode(reply)


def usage_chunk(payload: bytes) -> tuple[bytes, bytes] | None:
    """For a chunk carrying usage inside a choice (Moonshot): the chunk without it, and OpenAI's usage chunk
    (same id, created and model, ``choices: []``, top-level ``usage``) to send after it. None when the chunk
    holds no usage in a choice, or when the chunk cannot be written again (deeper than orjson writes: it goes as the
    vendor sent it)."""
    try:
        chunk: Any = wire.untrusted_json(orjson.loads, payload)
    except msgspec.DecodeError:
        return None
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list):
        return None
    usage = None
    for c in choices:
        if isinstance(c, dict) and isinstance(c.get("usage"), dict):
            usage = c.pop("usage")
    if usage is None:
        return None
    head = {k: chunk[k] for k in ("id", "object", "created", "model", "system_fingerprint") if k in chunk}
    try:
        return orjson.dumps(chunk), orjson.dumps({**head, "choices": [], "usage": usage})
    except orjson.JSONEncodeError:
        return None
