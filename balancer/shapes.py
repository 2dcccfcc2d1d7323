"""Replies reshaped where a vendor's differs from what OpenAI's SDKs read: embeddings in the encoding the client
asked for, a stream's usage on its own final chunk (``choices: []``) where a vendor puts it inside a choice, and
usage the gateway could not read replaced by what it booked. Each runs on one reply or one chunk only, never on the
hot path of every chunk."""

from __future__ import annotations

import base64
import struct

import msgspec
import orjson

from balancer import replies, wire

Fields = dict[str, msgspec.Raw]  # an object's fields, each as the vendor wrote it
_fields = msgspec.json.Decoder(Fields)
_choices = msgspec.json.Decoder(list[Fields] | None)
_NULL, _EMPTY = msgspec.Raw(b"null"), msgspec.Raw(b"[]")


class _Counts(msgspec.Struct):
    """The usage a client reads in place of one the gateway could not (OpenAI's three counts)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


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


def with_usage(payload: bytes, usage: replies.Usage) -> bytes:
    """The reply or chunk ``payload``, whose usage the gateway could not read (a count below 0, beyond 2**32, of 5000
    digits, a string), with ``usage``'s three counts in place of every usage it holds: at the top, and in any choice
    (Moonshot's place). Every other field goes as the vendor wrote it (raw bytes, never decoded). Bytes that are
    no JSON object (never those a reply view was read from) are returned as they are."""
    try:
        reply = _fields.decode(payload)
        choices = _choices.decode(reply.get("choices", _NULL))
    except wire.HOSTILE_JSON:
        return payload
    counts = msgspec.Raw(wire.encoder.encode(_Counts(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)))
    if "usage" in reply:
        reply["usage"] = counts
    if choices and any(map(_holds_usage, choices)):
        choices = [c | {"usage": counts} if _holds_usage(c) else c for c in choices]
        reply["choices"] = msgspec.Raw(wire.encoder.encode(choices))
    return wire.encoder.encode(reply)


def usage_chunk(payload: bytes) -> tuple[bytes, bytes] | None:
    """For a chunk carrying usage inside a choice (Moonshot): the chunk without it, and OpenAI's usage chunk
    (same id, object, created, model and system_fingerprint, ``choices: []``, top-level ``usage``) to send after it.
    Every field goes as the vendor wrote it (raw bytes: no number is read, so none is rewritten). None when no choice
    holds a usage, or when the chunk is no JSON object."""
    try:
        chunk = _fields.decode(payload)
        choices = _choices.decode(chunk.get("choices", _NULL))
    except wire.HOSTILE_JSON:
        return None
    usage = None
    for c in choices or ():
        if _holds_usage(c):
            usage = c.pop("usage")
    if usage is None:
        return None
    chunk["choices"] = msgspec.Raw(wire.encoder.encode(choices))
    head = {k: chunk[k] for k in ("id", "object", "created", "model", "system_fingerprint") if k in chunk}
    return wire.encoder.encode(chunk), wire.encoder.encode({**head, "choices": _EMPTY, "usage": usage})


def _holds_usage(choice: Fields) -> bool:
    return bytes(choice.get("usage", _NULL)).strip() != b"null"
