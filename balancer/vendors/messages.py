"""Rewriting a request's ``messages`` for a vendor that reads them differently (:mod:`balancer.vendors.shaping`
decides when): the role "developer" sent as "system", the leading system messages merged into one, assistant
messages that say nothing left out, a placeholder reasoning_content where a turn that called a tool lost its own.
Only the fields that change are decoded; every other field of every message is kept byte for byte.
"""

from __future__ import annotations

import msgspec

from balancer import turns

_fields = msgspec.json.Decoder(list[dict[str, msgspec.Raw]])
_str = msgspec.json.Decoder(str | None)
_content = msgspec.json.Decoder(str | list[dict[str, msgspec.Raw]] | None)
_encoder = msgspec.json.Encoder()
_SYSTEM = msgspec.Raw(b'"system"')
_EMPTY = msgspec.Raw(b"")
JOIN = "\n\n"  # between the texts of merged system messages


def developer_as_system(messages: msgspec.Raw) -> msgspec.Raw:
    """``messages`` with every "developer" role sent as "system"."""
    out = _fields.decode(messages)
    for m in out:
        if _str.decode(m["role"]) == "developer":
            m["role"] = _SYSTEM
    return msgspec.Raw(_encoder.encode(out))


def merge_leading_systems(messages: msgspec.Raw) -> tuple[msgspec.Raw, int]:
    """``messages`` with the system messages it starts with merged into one, their texts joined by a blank line
    (the first one's other fields kept), and how many were merged (0: fewer than two, or one whose content is
    not text, which is left for the vendor to judge)."""
    out = _fields.decode(messages)
    lead = 0
    while lead < len(out) and _str.decode(out[lead]["role"]) == "system":
        lead += 1
    texts = [_text(m.get("content")) for m in out[:lead]]
    if lead < 2 or any(t is None for t in texts):
        return messages, 0
    merged = {**out[0], "content": msgspec.Raw(_encoder.encode(JOIN.join(t for t in texts if t is not None)))}
    return msgspec.Raw(_encoder.encode([merged, *out[lead:]])), lead


def _text(content: msgspec.Raw | None) -> str | None:
    """A system message's text: its string, or its text parts a line apart; None for anything else."""
    try:
        value = _content.decode(content) if content is not None else None
    except msgspec.ValidationError:
        return None
    if isinstance(value, str):
        return value
    if value is None or not all(_str.decode(p.get("type", b"null")) == "text" for p in value):
        return None
    try:
        texts = [_str.decode(p.get("text", b"null")) for p in value]
    except msgspec.ValidationError:
        return None
    return "\n".join(t for t in texts if t is not None) if None not in texts else None


def without_empty_assistant(messages: msgspec.Raw) -> tuple[msgspec.Raw, int, int]:
    """``messages`` with what an assistant message that says nothing (:func:`balancer.turns.says_nothing`) holds
    left out: its content beside tool calls, or the whole message without them. Returns the messages, how many
    contents and how many messages were left out."""
    out, contents, dropped = [], 0, 0
    for m in _fields.decode(messages):
        calls = m.get("tool_calls", _EMPTY)
        if _str.decode(m["role"]) == "assistant" and turns.says_nothing(m.get("content", _EMPTY), calls):
            if not turns.has_calls(calls):
                dropped += 1
                continue
            m.pop("content", None)
            contents += 1
        out.append(m)
    return msgspec.Raw(_encoder.encode(out)), contents, dropped


def with_reasoning(messages: msgspec.Raw, text: str) -> tuple[msgspec.Raw, int]:
    """``messages`` with ``text`` as the reasoning_content of every assistant message of a turn that called a tool
    (:func:`balancer.turns.in_tool_turns`) that has none (absent or null; "" too when ``text`` is not empty), and how
    many were given it."""
    out, given, placeholder = _fields.decode(messages), 0, msgspec.Raw(_encoder.encode(text))
    roles = [_str.decode(m["role"]) or "" for m in out]
    for i in turns.in_tool_turns(roles, [turns.has_calls(m.get("tool_calls", _EMPTY)) for m in out]):
        reasoning = out[i].get("reasoning_content", _EMPTY)
        if turns.unreasoned(reasoning) and bytes(reasoning) != bytes(placeholder):
            out[i]["reasoning_content"] = placeholder
            given += 1
    return msgspec.Raw(_encoder.encode(out)), given
