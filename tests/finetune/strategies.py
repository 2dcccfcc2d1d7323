"""Hypothesis strategies for canonical conversations (Chinese text and full-width punctuation included)."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import strategies as st

from finetune.model import Conversation, FunctionCall, Message, Ranked, ToolCall

ALPHABET = "abcXYZ 019你好世界天气，。！？（）：；“”、\n"
texts = st.text(alphabet=ALPHABET, min_size=1, max_size=12).filter(lambda t: t.strip() != "")
weights = st.sampled_from([None, 0, 1])


def _assistant(text: str, weight: int | None, reasoning: str | None) -> Message:
    return Message(
        role="assistant",
        content=text,
        weight=msgspec.UNSET if weight is None else weight,
        reasoning_content=msgspec.UNSET if reasoning is None else reasoning,
    )


@st.composite
def tool_exchange(draw: st.DrawFn, turn: int) -> list[Message]:
    """An assistant tool-call turn (1–2 parallel calls) followed by each call's result."""
    n = draw(st.integers(1, 2))
    args = [draw(st.dictionaries(st.sampled_from(["city", "日期", "n"]), texts, max_size=2)) for _ in range(n)]
    calls = [
        ToolCall(
            id=f"call_{turn}_{k}",
            function=FunctionCall(name=f"tool_{k}", arguments=msgspec.json.encode(a).decode()),
        )
        for k, a in enumerate(args)
    ]
    results = [Message(role="tool", tool_call_id=c.id, content=draw(texts)) for c in calls]
    return [Message(role="assistant", tool_calls=calls), *results]


@st.composite
def conversations(draw: st.DrawFn, tools: bool = True) -> Conversation:
    """A well-formed SFT conversation: optional system, 1–3 turns, maybe tools, weights, reasoning."""
    msgs: list[Message] = []
    if draw(st.booleans()):
        msgs.append(Message(role="system", content=draw(texts)))
    turns = draw(st.integers(1, 3))
    use_tools = tools and draw(st.booleans())
    for turn in range(turns):
        msgs.append(Message(role="user", content=draw(texts)))
        if use_tools and draw(st.booleans()):
            msgs += draw(tool_exchange(turn))
        reasoning = draw(st.one_of(st.none(), texts)) if turn == turns - 1 else None
        msgs.append(_assistant(draw(texts), draw(weights), reasoning))
    declared: Any = msgspec.UNSET
    if any(m.tool_calls is not msgspec.UNSET for m in msgs):
        declared = [
            {"type": "function", "function": {"name": "tool_0"}},
            {"type": "function", "function": {"name": "tool_1"}},
        ]
    return Conversation(messages=msgs, tools=declared)


@st.composite
def preferences(draw: st.DrawFn) -> Conversation:
    """A preference pair: a prompt ending with a user turn and two different answers."""
    msgs = [Message(role="system", content=draw(texts))] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 2))):
        msgs += [Message(role="user", content=draw(texts)), Message(role="assistant", content=draw(texts))]
    msgs.append(Message(role="user", content=draw(texts)))
    good, bad = draw(texts), draw(texts)
    return Conversation(
        messages=msgs,
        preferred_output=[Message(role="assistant", content=good)],
        non_preferred_output=[Message(role="assistant", content=bad)],
    )


@st.composite
def arbitrary(draw: st.DrawFn) -> Conversation:
    """Any message sequence (roles, order, weights, content shapes), valid or not."""
    msgs = []
    for _ in range(draw(st.integers(0, 6))):
        role = draw(st.sampled_from(["system", "user", "assistant", "tool", "robot"]))
        content: Any = draw(st.one_of(st.none(), st.just(""), texts, st.just([{"type": "text", "text": "x"}])))
        weight: Any = draw(st.sampled_from([msgspec.UNSET, 0, 1, 0.5, 2]))
        tool_calls: Any = msgspec.UNSET
        if role == "assistant" and draw(st.booleans()):
            arguments = draw(st.sampled_from(["{}", '{"城市":"北京"}', "[1]", "{1:2}", ""]))
            call = FunctionCall(name="f", arguments=arguments)
            tool_calls = [ToolCall(id=draw(st.sampled_from(["a", "b"])), function=call)]
        call_id: Any = draw(st.sampled_from(["a", "b"])) if role == "tool" else msgspec.UNSET
        msgs.append(Message(role=role, content=content, weight=weight, tool_calls=tool_calls, tool_call_id=call_id))
    if draw(st.booleans()) and msgs:
        return Conversation(
            messages=msgs,
            preferred_output=[Message(role="assistant", content="好")],
            non_preferred_output=[Message(role="assistant", content="坏")],
        )
    return Conversation(messages=msgs)


@st.composite
def kto_samples(draw: st.DrawFn) -> Conversation:
    """A KTO sample: a prompt ending with a user turn and one answer labelled good or bad."""
    pair = draw(preferences())
    answer = [Message(role="assistant", content=draw(texts))]
    if draw(st.booleans()):
        return msgspec.structs.replace(pair, preferred_output=answer, non_preferred_output=msgspec.UNSET)
    return msgspec.structs.replace(pair, preferred_output=msgspec.UNSET, non_preferred_output=answer)


@st.composite
def rankings(draw: st.DrawFn) -> Conversation:
    """A ranking sample: a prompt ending with a user turn and 2–4 answers with integer scores."""
    pair = draw(preferences())
    candidates = draw(st.lists(st.tuples(texts, st.integers(0, 5)), min_size=2, max_size=4))
    ranked = [Ranked(content=c, score=s) for c, s in candidates]
    return msgspec.structs.replace(
        pair, preferred_output=msgspec.UNSET, non_preferred_output=msgspec.UNSET, ranked_outputs=ranked
    )
