"""What a chat request's messages say about their shape, read from their raw slices for :func:`balancer.wire.chat_view`:
the first content part that is not text, whether the turns alternate, the system messages up front, an assistant
message that says nothing, the turns that called a tool and reasoning left out of them. Text is decoded only where an
assistant message's parts must be read for emptiness.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec


class _Part(msgspec.Struct):
    type: Any = None  # what a part holds ("text", "image_url", ...); its other fields are skipped


class _TextPart(msgspec.Struct):
    type: Any = None
    text: Any = None


_parts = msgspec.json.Decoder(list[_Part])
_text_parts = msgspec.json.Decoder(list[_TextPart])


def media(content: msgspec.Raw) -> str:
    """The type of the first part of a message's content array that is not text ("" when all are). Any other
    shape is forwarded as it came, for the vendor to judge (a string, null, parts that are not objects)."""
    if not _array(content):
        return ""
    try:
        parts = _parts.decode(content)
    except msgspec.ValidationError:
        return ""
    return next((p.type for p in parts if isinstance(p.type, str) and p.type != "text"), "")


def says_nothing(content: msgspec.Raw, tool_calls: msgspec.Raw) -> bool:
    """Whether an assistant message says nothing: beside tool calls, content "" or text parts all empty (absent or
    null is how OpenAI sends a tool call); without them, any of those or no content at all."""
    if len(content) > 4:  # text, unless an array of parts
        return memoryview(content)[0] == 0x5B and _empty_parts(content)
    value = bytes(content)
    if value in (b"", b"null"):
        return not has_calls(tool_calls)
    return value in (b'""', b"[]") or (_array(content) and _empty_parts(content))


def _empty_parts(content: msgspec.Raw) -> bool:
    try:
        parts = _text_parts.decode(content)
    except msgspec.ValidationError:
        return False
    return all(p.type == "text" and p.text in ("", None) for p in parts)


def has_calls(tool_calls: msgspec.Raw) -> bool:
    """Whether a message's ``tool_calls`` holds any (absent, null and [] hold none)."""
    return len(tool_calls) > 4 or (len(tool_calls) > 0 and bytes(tool_calls) not in (b"null", b"[]"))


def in_tool_turns(roles: list[str], calls: list[bool]) -> list[int]:
    """The indices of the assistant messages of every turn that called a tool (``calls``: whether each message holds
    tool calls). A turn runs from a user message to the next."""
    out: list[int] = []
    turn: list[int] = []
    called = False
    for i, (role, call) in enumerate(zip(roles, calls, strict=True)):
        if role == "user":
            out += turn if called else []
            turn, called = [], False
        elif role == "assistant":
            turn.append(i)
            called = called or call
    return out + turn if called else out


def unreasoned(reasoning: msgspec.Raw) -> bool:
    """Whether a message's ``reasoning_content`` holds no reasoning: absent, null or ""."""
    return bytes(reasoning) in (b"", b"null", b'""')


def _array(raw: msgspec.Raw) -> bool:
    """Whether a raw value is a JSON array (read from its first byte)."""
    return len(raw) > 0 and memoryview(raw)[0] == 0x5B  # "["


SYSTEMS = ("system", "developer")


def leading_systems(roles: list[str]) -> int:
    """How many system (or developer) messages the request starts with."""
    return next((i for i, r in enumerate(roles) if r not in SYSTEMS), len(roles))


def alternating(roles: list[str]) -> bool:
    """Whether the turns (system and developer messages aside) start with user, end with user or tool, and never
    repeat a side: user and tool ask, assistant answers; tool results may follow each other."""
    turns = [r for r in roles if r in ("user", "assistant", "tool")]
    if not turns or turns[0] != "user" or turns[-1] == "assistant":
        return False
    return all((a == "assistant") != (b == "assistant") or a == b == "tool" for a, b in itertools.pairwise(turns))
