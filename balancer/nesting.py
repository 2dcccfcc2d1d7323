"""How deeply a request may nest JSON arrays and objects: at most :data:`MAX_DEPTH` levels, the body's own object
the first (``{"extra": [[1]]}`` is 3 levels deep; a chat message's content parts are 4 or 5).

Checked once, at intake (:func:`balancer.wire.decode_body` for the API's bodies, :mod:`balancer.batches` for each
line of a batch file): a deeper body is refused with a 400 that names the field and both depths, and nothing
after intake ever sees one. The limit is set by what every parser on a request's way can take, with room to spare:

- the gateway's own: msgspec and Python's ``json`` recurse on the C stack under the interpreter's recursion limit
  (1000 frames, less the handler's own: about 950 levels, fewer the deeper the caller); ``orjson.dumps`` (the
  Idempotency-Key digest, the Tiangong and Hunyuan request mappings, batch files) writes at most 254 levels. (The
  transcripts' redaction and PII scrubbing walk without recursion, and read JSON held in a string only up to this
  limit: deeper, it is text.)
- the vendors': Rust's serde_json refuses 128 levels by default (Jackson takes 1000, Go 10000); a vendor that
  wraps the body in an envelope of its own, or re-encodes its messages, adds levels of its own.

Before, a body 254 to about 950 levels deep was forwarded and refused by the vendor's parser (a 5xx from every
candidate: a 502 for the client and a cooldown for every provider of the route), a 500 when an Idempotency-Key was
sent (orjson's digest, after the vendor had been paid); deeper ones were a 400 from msgspec's recursion limit.
Real requests nest far less: a tool's JSON Schema a few dozen levels at most. A value that must nest deeper can
travel as a JSON string, which is no nesting at all.
"""

from __future__ import annotations

from itertools import accumulate

import msgspec

from balancer.errors import GatewayError

MAX_DEPTH = 100

_BRACKETS = b"[]{}"
_NOT_SYNTAX = bytes(b for b in range(256) if b not in _BRACKETS + b'"')  # all but brackets and quotes
_STEP = bytes.maketrans(_BRACKETS, b"\x01\xff\x01\xff")  # +1 opens a level, -1 (as a signed byte) closes one


def depth(data: bytes | msgspec.Raw) -> int:
    """How many levels of arrays and objects valid JSON text nests (0 for a scalar). Its strings are skipped
    exactly: with escaped backslashes and quotes removed, every other quote closes a string. Costs a few bytes
    operations and one pass over the brackets outside strings (C loops: a 180 KB conversation of 300 messages in
    about 0.15 ms, 0.7 ms when its strings are full of escaped quotes and backslashes)."""
    text = bytes(data)
    if b"\\" in text:
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    quotes_and_brackets = text.translate(None, _NOT_SYNTAX)  # small: the splits below cost little
    marks = b"".join(quotes_and_brackets.split(b'"')[::2]).translate(_STEP)
    return max(accumulate(memoryview(marks).cast("b")), default=0)


def too_deep(data: bytes | msgspec.Raw) -> bool:
    """Whether valid JSON text nests deeper than :data:`MAX_DEPTH`; a body with fewer brackets than that in all
    (most bodies) is answered by counting them."""
    raw = bytes(data)
    return raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and depth(raw) > MAX_DEPTH


def check(data: bytes, fields: dict[str, msgspec.Raw], where: str = "The request body") -> None:
    """A 400 when the JSON object ``data`` (decoded as ``fields``) nests deeper than :data:`MAX_DEPTH`, naming the
    first field that does and its depth; nothing otherwise."""
    if not too_deep(data):
        return
    for name, raw in fields.items():
        levels = 1 + depth(raw)
        if levels > MAX_DEPTH:
            shown = name if len(name) <= 40 and name.isascii() and name.isprintable() else None
            at = f" in '{shown}'" if shown else ""
            raise refusal(f"{where} nests JSON arrays and objects {levels} levels deep{at}", shown)
    raise refusal(f"{where} nests JSON arrays and objects {depth(data)} levels deep")


def refusal(
    what: str = "The request body nests JSON arrays and objects too deeply", param: str | None = None
) -> GatewayError:
    """The 400 for a body nested too deeply (``what``: how deep, and where when known)."""
    return GatewayError(
        400,
        f"{what}; the gateway accepts at most {MAX_DEPTH} levels (vendors' JSON parsers refuse deeper ones). "
        "Flatten the value, or send it as a JSON string.",
        code="invalid_json",
        param=param,
    )
