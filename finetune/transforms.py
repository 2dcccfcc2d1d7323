"""The explicit, reported changes that make a conversation fit a target.

Each transform either returns the conversation unchanged, returns a changed copy and notes an
``altered`` issue, or notes a ``rejected`` issue and returns ``None``. They run only when the
one-pass :class:`~finetune.scan.Scan` says they have something to do. Order: legacy function
calling, content parts, PII, reasoning, system placement, tools, text beside tool calls, same-role
turns, weights, per-turn split.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from msgspec import UNSET, Struct
from msgspec.structs import replace

from balancer.pii import Scrubber
from finetune.model import Conversation, Message, text_of
from finetune.readers import legacy_functions_to_tools
from finetune.report import Action
from finetune.scan import Scan, scan
from finetune.targets.caps import Caps
from finetune.targets.rules import uses_tools

Note = Callable[[str, str, Action], None]


class Settings(Struct, frozen=True, kw_only=True):
    """User choices for the transforms (CLI flags)."""

    same_role: Literal["merge", "reject"] = "merge"
    weights: Literal["train-all", "drop", "split"] = "train-all"
    split_turns: Literal["off", "history", "single"] = "off"
    scrub_pii: bool = False
    #: Remove tool calls, results and definitions instead of rejecting a sample that has them.
    drop_tools: bool = False


def prepare(
    conv: Conversation,
    s: Scan,
    caps: Caps,
    *,
    settings: Settings,
    note: Note,
    scrubber: Scrubber | None = None,
) -> list[Conversation]:
    """All transforms in order; an empty list means the sample was rejected (and noted)."""
    c: Conversation | None = conv
    if s.legacy or conv.functions is not UNSET:
        c = conv = modernise(conv, note)
    if s.non_str and not caps.content_parts:
        c = flatten_parts(conv, s, note)
    if c is not None and scrubber is not None:
        c = scrub(c, scrubber, note)
    if c is not None and s.reasoning and caps.reasoning != "field":
        c = strip_reasoning(c, caps, note)
    if c is not None and s.systems and _needs_placing(s, caps):
        c = place_system(c, caps, note)
    if c is not None and (s.tool_use or c.tools is not UNSET) and (not caps.tools or settings.drop_tools):
        c, s = _without_tools(c, s, settings, note)
    if c is not None and s.call_text and caps.tools and not caps.tool_call_text:
        c = drop_call_text(c, note)
    if c is not None and s.same_role and caps.alternation:
        c = merge_same_role(c, settings, note)
    return [] if c is None else _split(c, s, caps, settings, note)


def _without_tools(c: Conversation, s: Scan, settings: Settings, note: Note) -> tuple[Conversation | None, Scan]:
    dropped = drop_tools(c, settings, note)
    if dropped is not None and dropped.messages is not c.messages:
        return dropped, scan(dropped)  # new neighbours (two answers in a row) for the transforms after
    return dropped, s


def _split(c: Conversation, s: Scan, caps: Caps, settings: Settings, note: Note) -> list[Conversation]:
    out = [c]
    if s.weight_zero and caps.weights == "none":
        out = handle_weights(c, settings, note)
    if settings.split_turns != "off" or (not caps.multi_turn and s.users > 1):
        mode = "single" if not caps.multi_turn else settings.split_turns
        out = [t for x in out for t in split_turns(x, mode, note)]
    return out


def modernise(conv: Conversation, note: Note) -> Conversation:
    """Deprecated function calling rewritten as tool calling (every target, OpenAI included)."""
    note("transform.legacy_functions", "functions/function_call rewritten as tools/tool_calls", "altered")
    return legacy_functions_to_tools(conv)


def _needs_placing(s: Scan, caps: Caps) -> bool:
    if caps.system == "fold":
        return True
    return (caps.system != "message" or caps.alternation) and (s.systems > 1 or s.system_late)


def flatten_parts(conv: Conversation, s: Scan, note: Note) -> Conversation | None:
    """Text-only content-part lists become strings; any non-text part rejects the sample."""
    if s.non_text_parts:
        note("content.non_text", "non-text content parts (image/audio/file) are not supported", "rejected")
        return None
    note("transform.content_parts", "text content parts joined into a string", "altered")
    msgs = [
        m if m.content is None or isinstance(m.content, str) else replace(m, content=text_of(m.content))
        for m in conv.messages
    ]
    return replace(conv, messages=msgs)


def scrub(conv: Conversation, scrubber: Scrubber, note: Note) -> Conversation:
    """Replace PII in every text a sample trains on — content (text parts too), reasoning, tool call arguments
    (as JSON: they stay JSON), the preference answers — and note how many items were replaced."""
    counts = [0]

    def text(value: str) -> str:
        clean, n = scrubber.scrub_obj(value)
        counts[0] += n
        return clean if n else value

    def message(m: Message) -> Message:
        changes: dict[str, object] = {}
        if isinstance(m.content, str):
            changes["content"] = text(m.content)
        elif isinstance(m.content, list):
            changes["content"] = [
                {**p, "text": text(p["text"])} if p.get("type") == "text" and isinstance(p.get("text"), str) else p
                for p in m.content
            ]
        if isinstance(m.reasoning_content, str):
            changes["reasoning_content"] = text(m.reasoning_content)
        if m.tool_calls is not UNSET:
            changes["tool_calls"] = [
                replace(c, function=replace(c.function, arguments=text(c.function.arguments))) for c in m.tool_calls
            ]
        return replace(m, **changes) if changes else m

    def messages(ms: list[Message]) -> list[Message]:
        return [message(m) for m in ms]

    out = replace(conv, messages=messages(conv.messages))
    for field in ("preferred_output", "non_preferred_output"):
        if getattr(conv, field) is not UNSET:
            out = replace(out, **{field: messages(getattr(conv, field))})
    if conv.ranked_outputs is not UNSET:
        out = replace(out, ranked_outputs=[replace(r, content=text(r.content)) for r in conv.ranked_outputs])
    if not counts[0]:
        return conv
    note("transform.pii", f"{counts[0]} PII item(s) replaced", "altered")
    return out


def strip_reasoning(conv: Conversation, caps: Caps, note: Note) -> Conversation:
    """Drop reasoning the target cannot hold (``think`` targets keep the last answer's)."""
    last = len(conv.messages) - 1
    keep = caps.reasoning == "think"
    msgs = [
        m if m.reasoning_content is UNSET or (keep and i == last) else replace(m, reasoning_content=UNSET)
        for i, m in enumerate(conv.messages)
    ]
    dropped = sum(1 for a, b in zip(msgs, conv.messages, strict=True) if a is not b)
    if dropped:
        where = "this target" if not keep else "answers before the last"
        note("transform.reasoning", f"reasoning_content dropped from {dropped} message(s) ({where})", "altered")
    return replace(conv, messages=msgs)


def place_system(conv: Conversation, caps: Caps, note: Note) -> Conversation | None:
    """One leading system prompt; later ones move into the next user turn; ``fold`` folds it in too."""
    lead: list[str] = []
    pending: list[str] = []
    msgs: list[Message] = []
    for m in conv.messages:
        if m.role == "system":
            (pending if msgs else lead).append(text_of(m.content))
        elif m.role == "user" and pending:
            msgs.append(replace(m, content="\n\n".join([*pending, text_of(m.content)])))
            pending = []
        else:
            msgs.append(m)
    if pending:
        note("system.position", "system message after the last user turn", "rejected")
        return None
    if lead and caps.system == "fold" and msgs and msgs[0].role == "user":
        msgs[0] = replace(msgs[0], content="\n\n".join([*lead, text_of(msgs[0].content)]))
        lead = []
    system = [Message(role="system", content="\n\n".join(lead))] if lead else []
    note("transform.system", "system prompt(s) moved to where this target expects them", "altered")
    return replace(conv, messages=system + msgs)


def drop_tools(conv: Conversation, settings: Settings, note: Note) -> Conversation | None:
    """Unused tool definitions are stripped; a sample that uses tools is rejected, or with
    ``--drop-tools`` kept without its tool calls, tool results and definitions."""
    if not any(uses_tools(m) for m in conv.messages):
        if conv.tools or conv.functions:
            note("transform.tools", "unused tool definitions removed", "altered")
        return replace(conv, tools=UNSET, parallel_tool_calls=UNSET, functions=UNSET)
    if not settings.drop_tools:
        reason = "uses tool calls, which this target cannot express (--drop-tools keeps the rest)"
        note("tools.unsupported", reason, "rejected")
        return None
    msgs, removed = _without_tool_turns(conv.messages)
    cut = 0
    if not conv.is_preference:  # an SFT sample ends with an answer: drop questions left unanswered
        last = max((i for i, m in enumerate(msgs) if m.role == "assistant"), default=-1)
        msgs, cut = msgs[: last + 1], len(msgs) - last - 1
        if not any(m.role == "user" for m in msgs):
            note("tools.unsupported", "nothing but tool calls answers the user: nothing left to train on", "rejected")
            return None
    defs = " and the tool definitions" if conv.tools or conv.functions else ""
    tail = f"; {cut} unanswered message(s) at the end dropped" if cut else ""
    note("transform.drop_tools", f"{removed} tool call/result message(s){defs} removed{tail} (--drop-tools)", "altered")
    return replace(conv, messages=msgs, tools=UNSET, parallel_tool_calls=UNSET, functions=UNSET)


def _without_tool_turns(messages: list[Message]) -> tuple[list[Message], int]:
    """Messages without tool results and tool calls (text sent along with a call is kept)."""
    kept: list[Message] = []
    removed = 0
    for m in messages:
        if m.role in {"tool", "function"} or (uses_tools(m) and not m.content):
            removed += 1
        elif uses_tools(m):
            removed += 1
            kept.append(replace(m, tool_calls=UNSET, function_call=UNSET))
        else:
            kept.append(m)
    return kept, removed


def drop_call_text(conv: Conversation, note: Note) -> Conversation:
    """Text next to a tool call has no place in formats where a call is a turn of its own."""
    msgs = [replace(m, content=None) if m.tool_calls is not UNSET and m.content else m for m in conv.messages]
    note("transform.tool_call_text", "text sent along with a tool call dropped (no place for it)", "altered")
    return replace(conv, messages=msgs)


def merge_same_role(conv: Conversation, settings: Settings, note: Note) -> Conversation | None:
    """Join consecutive user (or plain assistant) turns with a blank line, or reject them."""
    if settings.same_role == "reject":
        note("turns.alternation", "consecutive turns with the same role (--same-role reject)", "rejected")
        return None
    msgs: list[Message] = []
    for m in conv.messages:
        prev = msgs[-1] if msgs else None
        if (
            prev is not None
            and prev.role == m.role
            and m.role in {"user", "assistant"}
            and not (uses_tools(prev) or uses_tools(m))
        ):
            if prev.weight != m.weight:
                note("turns.alternation", "consecutive assistant turns with different weights", "rejected")
                return None
            msgs[-1] = replace(prev, content=f"{text_of(prev.content)}\n\n{text_of(m.content)}")
        else:
            msgs.append(m)
    note("transform.merge", "consecutive same-role turns merged", "altered")
    return replace(conv, messages=msgs)


def handle_weights(conv: Conversation, settings: Settings, note: Note) -> list[Conversation]:
    """Weight-0 answers on a target without a loss field: train all, drop the sample, or split it."""
    if settings.weights == "drop":
        note("weights.unsupported", "has weight-0 answers and this target has no loss field", "rejected")
        return []
    if settings.weights == "train-all":
        note("weights.unsupported", "weight-0 answers will be trained (no loss field)", "warning")
        return [conv]
    cut = [i for i, m in enumerate(conv.messages) if m.role == "assistant" and m.weight != 0]
    if not cut:
        note("weights.unsupported", "every answer has weight 0: nothing to train", "rejected")
        return []
    note("transform.weights", f"split into {len(cut)} sample(s), each ending at a weight-1 answer", "altered")
    return [replace(conv, messages=conv.messages[: i + 1]) for i in cut]


def split_turns(conv: Conversation, mode: str, note: Note) -> list[Conversation]:
    """One sample per answered user turn, with its history (``history``) or without (``single``)."""
    system = [m for m in conv.messages[:1] if m.role == "system"]
    starts = [i for i, m in enumerate(conv.messages) if m.role == "user"]
    if len(starts) <= 1 or conv.is_preference:
        return [conv]
    ends = [*starts[1:], len(conv.messages)]
    out = []
    for start, end in zip(starts, ends, strict=True):
        head = conv.messages[:start] if mode == "history" else system
        out.append(replace(conv, messages=[*head, *conv.messages[start:end]]))
    note("transform.split_turns", f"split into {len(out)} per-turn samples ({mode})", "altered")
    return out
