"""The ``{"messages": [...]}`` family shared by most vendors: one writer and one reader with knobs.

Knobs: which per-message loss field carries OpenAI's ``weight`` (``weight``, ``loss_weight``,
``loss`` or none), and where reasoning goes (a ``reasoning_content`` field, ``<think>`` tags in the
last answer, or nowhere). Reading maps every knob back, so the round trip is lossless for what the
target can express.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType

from finetune.model import Content, Conversation, Message, ToolCall, chosen, rejected

WeightField = Literal["weight", "loss_weight", "loss"] | None
Reasoning = Literal["field", "think", "drop"]
THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>\n\n"


class MsgOut(Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """A message in a vendor's messages format (a superset; unused fields are omitted)."""

    role: str
    content: Content = None
    reasoning_content: str | UnsetType = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET
    weight: int | UnsetType = UNSET
    loss_weight: float | UnsetType = UNSET
    loss: bool | UnsetType = UNSET


class MessagesLine(Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """``{"messages": [...], "tools"?, "chosen"?, "rejected"?}`` (Bailian-style DPO included)."""

    messages: list[MsgOut | Message]
    tools: list[dict[str, Any]] | UnsetType = UNSET
    chosen: MsgOut | Message | UnsetType = UNSET
    rejected: MsgOut | Message | UnsetType = UNSET


def with_think(content: Content, reasoning: str | UnsetType) -> Content:
    """Prefix ``<think>`` reasoning to a text answer (Bailian/Tencent/LLaMA-Factory convention)."""
    if reasoning is UNSET or not isinstance(content, str | None):
        return content
    return f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{content or ''}"


def split_think(content: Content) -> tuple[Content, str | UnsetType]:
    """Undo :func:`with_think`: ``(answer, reasoning)``."""
    if isinstance(content, str) and content.startswith(THINK_OPEN) and THINK_CLOSE in content:
        reasoning, _, answer = content[len(THINK_OPEN) :].partition(THINK_CLOSE)
        return answer, reasoning
    return content, UNSET


def out_message(m: Message, weight_field: WeightField, reasoning: Reasoning, last: bool) -> MsgOut | Message:
    """One canonical message in the target's shape (the message itself when nothing needs mapping)."""
    if m.name is UNSET and m.function_call is UNSET and m.refusal is UNSET:
        plain_reasoning = m.reasoning_content is UNSET or reasoning == "field"
        if plain_reasoning and (m.weight is UNSET or weight_field == "weight"):
            return m
        if plain_reasoning and weight_field is None:
            return msgspec.structs.replace(m, weight=UNSET)
    content: Content = m.content
    rc: str | UnsetType = UNSET
    if reasoning == "field":
        rc = m.reasoning_content
    elif reasoning == "think" and last:
        content = with_think(content, m.reasoning_content)
    w = m.weight
    return MsgOut(
        role=m.role,
        content=content,
        reasoning_content=rc,
        tool_calls=m.tool_calls,
        tool_call_id=m.tool_call_id,
        weight=int(w) if weight_field == "weight" and w is not UNSET else UNSET,
        loss_weight=float(w) if weight_field == "loss_weight" and w is not UNSET else UNSET,
        loss=bool(w) if weight_field == "loss" and w is not UNSET else UNSET,
    )


def write_messages(
    conv: Conversation, weight_field: WeightField, reasoning: Reasoning, *, fill_weight: bool = False
) -> MessagesLine:
    """The messages line; a preference pair gets Bailian's ``chosen``/``rejected`` objects.

    ``fill_weight`` gives every assistant message a weight (1 where the source has none), so that
    every line has the same keys.
    """
    msgs = conv.messages
    if fill_weight:
        msgs = [
            msgspec.structs.replace(m, weight=1) if m.role == "assistant" and m.weight is UNSET else m for m in msgs
        ]
    last = len(msgs) - 1
    out = [
        m
        if m.weight is UNSET and m.reasoning_content is UNSET and m.name is UNSET and m.refusal is UNSET
        else out_message(m, weight_field, reasoning, i == last)
        for i, m in enumerate(msgs)
    ]
    if conv.preferred_output is UNSET:
        return MessagesLine(messages=out, tools=conv.tools)
    good, bad = chosen(conv), rejected(conv)
    return MessagesLine(
        messages=out,
        tools=conv.tools,
        chosen=out_message(good, None, reasoning, True) if good else UNSET,
        rejected=out_message(bad, None, reasoning, True) if bad else UNSET,
    )


class MsgIn(Struct, frozen=True, kw_only=True, gc=False):
    role: str
    content: Content = None
    reasoning_content: str | UnsetType = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET
    weight: int | float | UnsetType = UNSET
    loss_weight: float | UnsetType = UNSET
    loss: bool | UnsetType = UNSET


class LineIn(Struct, frozen=True, kw_only=True, gc=False):
    messages: list[MsgIn] = []
    tools: list[dict[str, Any]] | UnsetType = UNSET
    chosen: MsgIn | UnsetType = UNSET
    rejected: MsgIn | UnsetType = UNSET


_line_in = msgspec.json.Decoder(LineIn)


def plain(content: Content) -> Content:
    """``[{"text": ..}]`` content arrays (Bailian's tool-call form) back to a string."""
    if isinstance(content, list) and all(set(p) <= {"text", "type"} for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    return content


def in_message(m: MsgIn) -> Message:
    """A vendor message back to canonical form (loss fields -> weight, think tags -> reasoning)."""
    content, reasoning = plain(m.content), m.reasoning_content
    if reasoning is UNSET and m.role == "assistant":
        content, reasoning = split_think(content)
    weight: int | float | UnsetType = m.weight
    if m.loss_weight is not UNSET:
        weight = m.loss_weight
    elif m.loss is not UNSET:
        weight = 1 if m.loss else 0
    if weight is not UNSET and weight in (0, 1):
        weight = int(weight)  # 1.0 -> 1: OpenAI wants the integers 0 and 1
    return Message(
        role=m.role,
        content=content,
        reasoning_content=reasoning,
        tool_calls=m.tool_calls,
        tool_call_id=m.tool_call_id,
        weight=weight,
    )


def read_messages(line: bytes) -> Conversation:
    """Any line of the messages family back to a canonical conversation."""
    src = _line_in.decode(line)
    msgs = [in_message(m) for m in src.messages]
    if src.chosen is not UNSET and src.rejected is not UNSET:
        return Conversation(
            messages=msgs,
            tools=src.tools,
            preferred_output=[in_message(src.chosen)],
            non_preferred_output=[in_message(src.rejected)],
        )
    return Conversation(messages=msgs, tools=src.tools)
