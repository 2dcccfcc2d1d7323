"""Reusable validation rules, chosen per target from its :class:`~finetune.targets.caps.Caps`.

Each check yields ``(json_path, reason)`` per violation; paths index the canonical (OpenAI-shaped)
conversation, e.g. ``$.messages[3].role``.
"""

from __future__ import annotations

from collections.abc import Iterator

from msgspec import UNSET

from finetune.model import NEEDS_CONTENT, Conversation, Message, arguments_problem
from finetune.targets.caps import Caps, Rule

Found = Iterator[tuple[str, str]]
ROLES = frozenset({"system", "user", "assistant", "tool", "function"})


def uses_tools(m: Message) -> bool:
    """True for a message that makes or answers a tool/function call."""
    return m.tool_calls is not UNSET or m.function_call is not UNSET or m.role in {"tool", "function"}


def _nonempty(conv: Conversation, caps: Caps) -> Found:
    if not conv.messages:
        yield "$.messages", "no messages"


def _roles(conv: Conversation, caps: Caps) -> Found:
    for i, m in enumerate(conv.messages):
        if m.role not in ROLES:
            yield f"$.messages[{i}].role", f"unknown role {m.role!r}"


def _text(conv: Conversation, caps: Caps) -> Found:
    for i, m in enumerate(conv.messages):
        if m.content is not None and not isinstance(m.content, str):
            yield f"$.messages[{i}].content", "content must be a string for this target"


def _missing_content(conv: Conversation, caps: Caps) -> Found:
    for i, m in enumerate(conv.messages):
        if m.content is None and m.role in NEEDS_CONTENT:
            yield f"$.messages[{i}].content", f"a {m.role} message needs content (it is missing or null)"


def _has_assistant(conv: Conversation, caps: Caps) -> Found:
    if not conv.is_preference and not any(m.role == "assistant" for m in conv.messages):
        yield "$.messages", "no assistant message to train on"


def _empty_answer(conv: Conversation, caps: Caps) -> Found:
    for i, m in enumerate(conv.messages):
        if m.role == "assistant" and not m.content and m.tool_calls is UNSET and m.function_call is UNSET:
            yield f"$.messages[{i}].content", "assistant message has neither content nor tool calls"


def _system_first(conv: Conversation, caps: Caps) -> Found:
    seen_other = False
    for i, m in enumerate(conv.messages):
        if m.role != "system":
            seen_other = True
        elif seen_other:
            yield f"$.messages[{i}]", "system message after the conversation started"


def _conversation_turns(conv: Conversation) -> list[tuple[int, Message]]:
    return [(i, m) for i, m in enumerate(conv.messages) if m.role != "system"]


def _first_user(conv: Conversation, caps: Caps) -> Found:
    turns = _conversation_turns(conv)
    if turns and turns[0][1].role != "user":
        yield f"$.messages[{turns[0][0]}].role", f"first turn is {turns[0][1].role!r}, not 'user'"


def _alternation(conv: Conversation, caps: Caps) -> Found:
    previous = ""
    for i, m in _conversation_turns(conv):
        if m.role in {"tool", "function"}:
            previous = "tool"
            continue
        if m.role == previous:
            yield f"$.messages[{i}].role", f"two {m.role!r} turns in a row"
        previous = m.role


def _ends_assistant(conv: Conversation, caps: Caps) -> Found:
    if conv.is_preference:
        if conv.messages and conv.messages[-1].role != "user":
            yield "$.messages", "a preference prompt must end with a user turn"
    elif conv.messages and conv.messages[-1].role != "assistant":
        yield f"$.messages[{len(conv.messages) - 1}].role", "the conversation must end with assistant"


def _no_tools(conv: Conversation, caps: Caps) -> Found:
    for i, m in enumerate(conv.messages):
        if uses_tools(m):
            yield f"$.messages[{i}]", "tool calls are not supported by this target"
            return
    if conv.tools is not UNSET and conv.tools:
        yield "$.tools", "tool definitions are not supported by this target"


def _tool_pairing(conv: Conversation, caps: Caps) -> Found:
    ids: set[str] = set()
    for i, m in enumerate(conv.messages):
        if m.tool_calls is not UNSET:
            ids.update(c.id for c in m.tool_calls)
        if m.role == "tool" and m.tool_call_id not in ids:
            yield f"$.messages[{i}].tool_call_id", "tool result without a matching earlier tool call"


def _tool_arguments(conv: Conversation, caps: Caps) -> Found:
    for i, m in enumerate(conv.messages):
        calls = (
            []
            if m.tool_calls is UNSET
            else [(f"tool_calls[{k}].function", c.function) for k, c in enumerate(m.tool_calls)]
        )
        if m.function_call is not UNSET:
            calls.append(("function_call", m.function_call))
        for where, call in calls:
            problem = arguments_problem(call.arguments)
            if problem is not None:
                yield f"$.messages[{i}].{where}.arguments", problem


def _weights(conv: Conversation, caps: Caps) -> Found:
    for i, m in enumerate(conv.messages):
        if m.weight is UNSET:
            continue
        if m.role != "assistant":
            yield f"$.messages[{i}].weight", "weight is only allowed on assistant messages"
        elif caps.weights == "binary" and m.weight not in (0, 1):
            yield f"$.messages[{i}].weight", f"weight must be 0 or 1, not {m.weight}"
        elif not 0 <= m.weight <= 1:
            yield f"$.messages[{i}].weight", f"weight must be within [0, 1], not {m.weight}"


_KIND_FIELD = {"dpo": "preferred_output", "kto": "preferred_output", "ranking": "ranked_outputs"}
_KIND_NAME = {
    "dpo": "preference pairs",
    "kto": "KTO samples (one answer labelled good or bad)",
    "ranking": "ranking samples",
}


def _preference_shape(conv: Conversation, caps: Caps) -> Found:
    kind = conv.kind
    if kind == "sft":
        return
    if not {"dpo": caps.preference, "kto": caps.kto, "ranking": caps.ranking}[kind]:
        yield f"$.{_KIND_FIELD[kind]}", f"{_KIND_NAME[kind]} are not supported by this target"
        return
    if conv.ranked_outputs is not UNSET:
        if len(conv.ranked_outputs) < 2:
            yield "$.ranked_outputs", "a ranking needs at least two candidate answers"
        for k, candidate in enumerate(conv.ranked_outputs):
            if not candidate.content:
                yield f"$.ranked_outputs[{k}].content", "a candidate answer needs text"
        return
    for key in ("preferred_output", "non_preferred_output"):
        out = getattr(conv, key)
        if out is not UNSET and not any(m.role == "assistant" and m.content for m in out):
            yield f"$.{key}", "needs an assistant message with content"


def _max_turns(conv: Conversation, caps: Caps) -> Found:
    users = sum(1 for m in conv.messages if m.role == "user")
    if caps.max_turns is not None and users > caps.max_turns:
        yield "$.messages", f"{users} turns, the limit is {caps.max_turns}"


def _single_turn(conv: Conversation, caps: Caps) -> Found:
    if sum(1 for m in conv.messages if m.role == "user") > 1:
        yield "$.messages", "this target takes one user turn per sample (use --split-turns)"


def rules_for(caps: Caps) -> tuple[Rule, ...]:
    """The shared rules that apply to a target with these capabilities."""
    rules = [
        Rule("messages.nonempty", "each line needs a non-empty messages list", _nonempty),
        Rule("role.known", "roles are system, user, assistant, tool, function", _roles),
        Rule("content.missing", "system, user and tool messages need content", _missing_content),
        Rule("turns.has_assistant", "an SFT sample needs an assistant answer", _has_assistant),
        Rule("content.empty", "assistant messages need content or tool calls", _empty_answer),
        Rule("weights.values", "weights only on assistant messages, within range", _weights),
        Rule("preference.shape", "DPO/KTO/ranking: supported, every answer has text", _preference_shape),
    ]
    if not caps.content_parts:
        rules.append(Rule("content.text", "content must be a plain string", _text))
    if caps.system != "message" or caps.alternation:
        rules.append(Rule("system.position", "system prompt only at the start", _system_first))
    if caps.alternation:
        rules.append(Rule("turns.first_user", "the first non-system turn is user", _first_user))
        rules.append(Rule("turns.alternation", "user and assistant alternate", _alternation))
    if caps.end_assistant:
        rules.append(Rule("turns.last", "SFT ends with assistant; a DPO prompt with user", _ends_assistant))
    if caps.tools:
        rules.append(Rule("tools.pairing", "tool results answer an earlier call id", _tool_pairing))
        rules.append(Rule("tools.arguments", "tool-call arguments: a JSON object in a string", _tool_arguments))
    else:
        rules.append(Rule("tools.unsupported", "no tool definitions or tool calls", _no_tools))
    if caps.max_turns is not None:
        rules.append(Rule("limits.turns", "at most max_turns user turns per sample", _max_turns))
    if not caps.multi_turn:
        rules.append(Rule("turns.single", "one user turn per sample", _single_turn))
    return tuple(rules)
