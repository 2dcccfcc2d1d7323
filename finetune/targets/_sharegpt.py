"""ShareGPT ``conversations`` (LLaMA-Factory's tags): the shape behind sharegpt, llamafactory, spark.

Roles: ``human``, ``gpt``, ``function_call`` (value: ``{"name", "arguments": {...}}`` as a JSON
string, a list for parallel calls), ``observation`` (tool results; several become a JSON list).
``tools`` is a JSON *string* of the function definitions. Every line carries ``system`` and
``tools`` (empty strings when there are none, which LLaMA-Factory reads as "none"), so columnar
loaders see the same keys throughout. Call ids do not exist here: reading back numbers them
``call_0``, ``call_1``… Source: https://github.com/hiyouga/LLaMA-Factory/blob/main/data/README.md
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

from finetune.model import Conversation, FunctionCall, Message, ToolCall, chosen, rejected, text_of
from finetune.targets._messages import split_think, with_think

_json = msgspec.json.Encoder()
_any = msgspec.json.Decoder()


class Turn(Struct, frozen=True):
    """One ShareGPT turn; ``from`` is a Python keyword, so the field is ``role`` in code."""

    role: str = msgspec.field(name="from")
    value: str = ""


class Line(Struct, frozen=True, kw_only=True, omit_defaults=True):
    conversations: list[Turn]
    system: str | UnsetType = UNSET
    tools: str | UnsetType = UNSET
    chosen: Turn | UnsetType = UNSET
    rejected: Turn | UnsetType = UNSET


_line = msgspec.json.Decoder(Line)


def _call_value(calls: list[ToolCall]) -> str:
    objs = [{"name": c.function.name, "arguments": _any.decode(c.function.arguments or "{}")} for c in calls]
    return _json.encode(objs[0] if len(objs) == 1 else objs).decode()


def _turns(messages: list[Message]) -> tuple[str | UnsetType, list[Turn]]:
    system: str | UnsetType = UNSET
    turns: list[Turn] = []
    results: list[str] = []
    last = len(messages) - 1
    for i, m in enumerate(messages):
        if m.role != "tool" and results:
            turns.append(
                Turn("observation", results[0] if len(results) == 1 else _json.encode(results).decode())
            )
            results = []
        if m.role == "system":
            system = text_of(m.content)
        elif m.role == "user":
            turns.append(Turn("human", text_of(m.content)))
        elif m.role == "tool":
            results.append(text_of(m.content))
        elif m.tool_calls is not UNSET:
            turns.append(Turn("function_call", _call_value(m.tool_calls)))
        else:
            content = with_think(m.content, m.reasoning_content) if i == last else m.content
            turns.append(Turn("gpt", text_of(content)))
    if results:
        turns.append(Turn("observation", results[0] if len(results) == 1 else _json.encode(results).decode()))
    return system, turns


def tools_string(tools: list[dict[str, Any]] | UnsetType) -> str | UnsetType:
    """OpenAI ``tools`` as the JSON string of their function objects."""
    if tools is UNSET or not tools:
        return UNSET
    return _json.encode([t.get("function", t) for t in tools]).decode()


def write_sharegpt(conv: Conversation) -> Line:
    """A canonical conversation as a ShareGPT line (preference: ``chosen``/``rejected`` turns)."""
    system, turns = _turns(conv.messages)
    good, bad = chosen(conv), rejected(conv)
    return Line(
        conversations=turns,
        system=system or "",
        tools=tools_string(conv.tools) or "",
        chosen=Turn("gpt", text_of(good.content)) if good else UNSET,
        rejected=Turn("gpt", text_of(bad.content)) if bad else UNSET,
    )


def _calls(value: str, start: int) -> list[ToolCall]:
    obj = _any.decode(value)
    objs = obj if isinstance(obj, list) else [obj]
    return [
        ToolCall(
            id=f"call_{start + k}",
            function=FunctionCall(name=o["name"], arguments=_json.encode(o.get("arguments", {})).decode()),
        )
        for k, o in enumerate(objs)
    ]


def _results(value: str, ids: list[str]) -> list[Message]:
    values: list[Any] = [value]
    if len(ids) > 1:
        decoded = _any.decode(value)
        values = decoded if isinstance(decoded, list) else values
    return [
        Message(role="tool", content=str(v), tool_call_id=ids[k] if k < len(ids) else "")
        for k, v in enumerate(values)
    ]


def messages_of(line: Line) -> list[Message]:
    """ShareGPT turns back to canonical messages (call ids renumbered)."""
    msgs = [Message(role="system", content=line.system)] if line.system else []
    ids: list[str] = []
    for t in line.conversations:
        if t.role == "human":
            msgs.append(Message(role="user", content=t.value))
        elif t.role == "function_call":
            calls = _calls(t.value, sum(len(m.tool_calls) for m in msgs if m.tool_calls is not UNSET))
            ids = [c.id for c in calls]
            msgs.append(Message(role="assistant", tool_calls=calls))
        elif t.role == "observation":
            msgs.extend(_results(t.value, ids))
        else:
            content, reasoning = split_think(t.value)
            msgs.append(Message(role="assistant", content=content, reasoning_content=reasoning))
    return msgs


def read_sharegpt(raw: bytes) -> Conversation:
    """A ShareGPT line back to a canonical conversation or preference pair."""
    line = _line.decode(raw)
    msgs = messages_of(line)
    tools = [{"type": "function", "function": f} for f in _any.decode(line.tools)] if line.tools else UNSET
    if line.chosen is not UNSET and line.rejected is not UNSET:
        good = Message(role="assistant", content=line.chosen.value)
        bad = Message(role="assistant", content=line.rejected.value)
        return Conversation(messages=msgs, tools=tools, preferred_output=[good], non_preferred_output=[bad])
    return Conversation(messages=msgs, tools=tools)
