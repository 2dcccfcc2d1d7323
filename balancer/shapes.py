"""Replies reshaped where a vendor's differs from what OpenAI's SDKs read: embeddings in the encoding the client
asked for. Each runs on one reply only, never on the hot path of every chunk."""

from __future__ import annotations

import base64
import struct

import orjson


def embeddings_base64(body: bytes) -> bytes:
    """An embeddings reply with every float vector as OpenAI's base64 (little-endian float32), as a client that
    sent ``encoding_format: "base64"`` decodes it (the Node SDK asks for it by default); a vector already a string
    is left alone, and a body that is not an embeddings list is returned as it is."""
    try:
        reply = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    items = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(items, list):
        return body
    for item in items:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(vector, list):
            item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return orjson.dumps(reply)
