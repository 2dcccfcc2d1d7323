"""ms-swift: ``messages`` with ``tool_call``/``tool_response`` roles, ``loss`` flags, ``rejected_response``.

Source: https://github.com/modelscope/ms-swift/blob/main/docs/source_en/Customization/Custom-dataset.md
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

from finetune.model import Conversation, FunctionCall, Message, ToolCall, chosen, rejected, text_of
from finetune.targets._messages import MsgIn, MsgOut, in_message, out_message
from finetune.targets._sharegpt import tools_string
from finetune.targets.base import Caps, Options, Target

_json = msgspec.json.Encoder()
_any = msgspec.json.Decoder()


class Line(Struct, frozen=True, kw_only=True, omit_defaults=True):
    messages: list[MsgOut | Message]
    tools: str | UnsetType = UNSET
    rejected_response: str | UnsetType = UNSET


class LineIn(Struct, frozen=True, kw_only=True):
    messages: list[MsgIn] = []
    tools: str | UnsetType = UNSET
    rejected_response: str | UnsetType = UNSET


_line = msgspec.json.Decoder(LineIn)


def _expand(m: Message, last: bool) -> list[MsgOut | Message]:
    if m.role == "tool":
        return [MsgOut(role="tool_response", content=m.content)]
    if m.tool_calls is UNSET:
        return [out_message(m, "loss", "think", last)]
    return [
        MsgOut(
            role="tool_call",
            content=_json.encode(
                {"name": c.function.name, "arguments": _any.decode(c.function.arguments or "{}")}
            ).decode(),
        )
        for c in m.tool_calls
    ]


def write(conv: Conversation, options: Options) -> Any:
    """Messages (tool calls as ``tool_call`` turns); a preference pair as chosen + ``rejected_response``.

    ``tools`` is on every line (an empty string when there are none; ms-swift reads that as none).
    """
    good, bad = chosen(conv), rejected(conv)
    msgs = [*conv.messages, good] if good else conv.messages
    last = len(msgs) - 1
    out = [o for i, m in enumerate(msgs) for o in _expand(m, i == last)]
    return Line(
        messages=out,
        tools=tools_string(conv.tools) or "",
        rejected_response=text_of(bad.content) if bad else UNSET,
    )


def read(raw: bytes) -> Conversation:
    """Back to canonical form: consecutive ``tool_call`` turns form one assistant message."""
    line = _line.decode(raw)
    msgs: list[Message] = []
    n = 0
    for m in line.messages:
        if m.role == "tool_call":
            obj = _any.decode(str(m.content))
            call = ToolCall(
                id=f"call_{n}",
                function=FunctionCall(
                    name=obj["name"], arguments=_json.encode(obj.get("arguments", {})).decode()
                ),
            )
            n += 1
            prev = msgs[-1] if msgs else None
            if (
                prev is not None
                and prev.role == "assistant"
                and prev.tool_calls is not UNSET
                and prev.content is None
            ):
                msgs[-1] = msgspec.structs.replace(prev, tool_calls=[*prev.tool_calls, call])
            else:
                msgs.append(Message(role="assistant", tool_calls=[call]))
        elif m.role in {"tool_response", "tool"}:
            msgs.append(
                Message(
                    role="tool",
                    content=m.content,
                    tool_call_id=f"call_{sum(1 for x in msgs if x.role == 'tool')}",
                )
            )
        else:
            msgs.append(in_message(m))
    tools = [{"type": "function", "function": f} for f in _any.decode(line.tools)] if line.tools else UNSET
    if line.rejected_response is not UNSET and msgs and msgs[-1].role == "assistant":
        bad = Message(role="assistant", content=line.rejected_response)
        return Conversation(
            messages=msgs[:-1], tools=tools, preferred_output=[msgs[-1]], non_preferred_output=[bad]
        )
    return Conversation(messages=msgs, tools=tools)


TARGET = Target(
    name="swift",
    title="ms-swift messages (tools, loss flags, rejected_response)",
    source="https://github.com/modelscope/ms-swift/blob/main/docs/source_en/Customization/Custom-dataset.md",
    caps=Caps(tools=True, tool_call_text=False, weights="binary", preference=True, reasoning="think"),
    write=write,
    read=read,
    tokenizer="qwen",
)
