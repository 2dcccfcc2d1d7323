"""Where a request body's text is not valid Unicode, found only once a body has been refused for it.

JSON may spell a lone UTF-16 surrogate (``"\\ud800"``): valid JSON syntax, but no text, which a vendor
refuses. A body may also hold bytes that are not UTF-8. The body's one decode
(:func:`balancer.wire.decode_body`) refuses the first (msgspec checks every escape, even in the values it
skips), and a UTF-8 check of a body that is not ASCII refuses the second; only then is the body parsed again,
here, to name the string at fault the way OpenAI names a parameter (``messages[2].content``, ``input[1]``,
``tools[0].function.name``). A body refused as not JSON gets a hint when the cause is a common one
(:func:`not_json_hint`: a byte order mark, UTF-16, NaN or Infinity).
"""

from __future__ import annotations

import json
from typing import Any

from balancer.errors import GatewayError

_MAX_PATH = 200  # characters of a path quoted back (a deeply nested one is cut)


def _key(name: str) -> str:
    """An object key as it may be quoted back: short printable ASCII, else a placeholder."""
    return name if len(name) <= 40 and name.isascii() and name.isprintable() else "<key>"


def _is_text(s: str) -> bool:
    """False when the string holds a lone surrogate (a JSON escape of one, or a byte that was not UTF-8)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _first_bad(value: Any) -> tuple[str, bool] | None:
    """The path of the first string in ``value`` (depth first) that is no text, and whether it is an object's
    key rather than a value; None when every string is text."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, str):
            if not _is_text(v):
                return path, False
        elif isinstance(v, dict):
            for k in v:
                if not _is_text(k):
                    return path, True
            stack.extend((f"{path}.{_key(k)}" if path else _key(k), x) for k, x in reversed(v.items()))
        elif isinstance(v, list):
            stack.extend((f"{path}[{i}]", x) for i, x in reversed(list(enumerate(v))))
    return None


def locate(data: bytes) -> tuple[str, bool] | None:
    """Where in the JSON body ``data`` a string is no text: ``(path, is_key)``; None when the body does not
    parse as JSON (once bytes that are not UTF-8 are let through) or every string is text."""
    text = data.decode("utf-8", "surrogateescape")  # a byte that is not UTF-8 becomes a lone surrogate
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return _first_bad(value)


def refusal(data: bytes, not_utf8: bool) -> GatewayError | None:
    """The 400 for a body whose text is not valid Unicode, naming where; None when no string can be named.
    ``not_utf8``: the body holds bytes that are not UTF-8 (else a JSON escape of a lone surrogate)."""
    found = locate(data)
    if found is None:
        return None
    path, is_key = found
    if not path and not is_key:  # the body itself is one string: not an object, as its own refusal says
        return None
    path = path[:_MAX_PATH]
    where = (f"a key of '{path}'" if path else "a key of the request body") if is_key else f"'{path}'"
    what = (
        "bytes that are not UTF-8 (send the body encoded as UTF-8)"
        if not_utf8
        else "a lone UTF-16 surrogate escape such as \\ud800, half of a pair and no character (a character "
        "beyond U+FFFF is escaped as its whole pair, e.g. \\ud83d\\ude00)"
    )
    return GatewayError(
        400,
        f"Invalid text in {where}: it holds {what}.",
        code="invalid_value",
        param=path or None,
    )


def not_utf8(data: bytes) -> GatewayError:
    """The 400 for a body that is not UTF-8 where no string can be named (the bytes are outside any string)."""
    try:
        data.decode("utf-8")
        at = 0
    except UnicodeDecodeError as e:
        at = e.start
    return GatewayError(
        400,
        f"The request body is not UTF-8 (byte {at}); send JSON encoded as UTF-8.",
        code="invalid_json",
    )


_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_NOT_JSON = (b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"-inf")


def not_json_hint(data: bytes, reason: str) -> str:
    """What a client can do about a body msgspec found malformed at ``(byte N)``, beyond its reason: a byte
    order mark or UTF-16 (JSON is UTF-8, no BOM), or NaN/Infinity (no JSON number); else nothing."""
    if data.startswith(_BOMS) or data[:1] == b"\x00" or data[1:2] == b"\x00":
        return " (the body starts with a byte order mark or is UTF-16: send JSON encoded as UTF-8, without a BOM)"
    at = reason.rpartition("(byte ")[2].rstrip(")")
    if at.isdigit() and data[int(at) : int(at) + 9].startswith(_NOT_JSON):
        return " (NaN and Infinity are not JSON numbers: send a finite number, or null)"
    return ""
