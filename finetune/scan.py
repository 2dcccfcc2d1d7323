"""One pass over a conversation that gathers every fact the transforms and rules ask about.

The pipeline scans each sample once; when the facts say "nothing to change, no rule can fire" (the
common case) it skips both the transforms and the rule-by-rule checks. The individual rules in
``finetune.targets.rules`` stay the reference: whenever :func:`clean` says no, they run and report.
A property test checks that :func:`clean` never passes a sample a rule would reject.
"""

from __future__ import annotations

from msgspec import UNSET, Struct

from finetune.model import NEEDS_CONTENT, Conversation, Message, arguments_problem
from finetune.targets.caps import Caps


class Scan(Struct, gc=False):
    """Facts about one conversation (a mutable Struct: created in C, cheaper than ``__init__``)."""

    bad_args: bool = False
    bad_role: bool = False
    bad_weight: bool = False
    call_text: bool = False
    empty_answer: bool = False
    first_not_user: bool = False
    has_assistant: bool = False
    #: Deprecated function calling (``function_call`` or ``role: function``) is present.
    legacy: bool = False
    #: A system, user or tool message without content (missing or null).
    no_content: bool = False
    non_str: bool = False
    non_text_parts: bool = False
    same_role: bool = False
    system_late: bool = False
    tool_unpaired: bool = False
    tool_use: bool = False
    weight_fraction: bool = False
    weight_zero: bool = False
    reasoning: int = 0
    systems: int = 0
    users: int = 0
    #: Ids of the tool calls seen so far (only built when there are tool calls).
    tool_ids: frozenset[str] = frozenset()


def scan(conv: Conversation) -> Scan:
    """Gather the facts in one loop over the messages (locals, not attributes, in the loop)."""
    s = Scan()
    prev = ""
    users = systems = 0
    same = late = first_not_user = has_assistant = tool_use = False
    for m in conv.messages:
        role = m.role
        if m.content is None:
            s.no_content = s.no_content or role in NEEDS_CONTENT
        elif m.content.__class__ is not str:
            _content(s, m.content)
        if m.weight is not UNSET and role != "assistant":
            s.bad_weight = True
        if role == "system":
            systems += 1
            late = late or prev != ""
            continue
        if prev == role:
            same = same or role != "tool"
        elif prev == "":
            first_not_user = role != "user"
        prev = role
        if role == "user":
            users += 1
        elif role == "assistant":
            has_assistant = True
            _assistant(s, m)
        elif role in {"tool", "function"}:
            tool_use = True
            s.legacy = s.legacy or role == "function"
            s.tool_unpaired = s.tool_unpaired or (role == "tool" and m.tool_call_id not in s.tool_ids)
            prev = "tool"
        else:
            s.bad_role = True
    s.users, s.systems, s.same_role, s.system_late = users, systems, same, late
    s.first_not_user, s.has_assistant, s.tool_use = first_not_user, has_assistant, tool_use or s.tool_use
    return s


def _assistant(s: Scan, m: Message) -> None:
    if m.tool_calls is not UNSET or m.function_call is not UNSET:
        s.tool_use = True
        s.legacy = s.legacy or m.function_call is not UNSET
        s.call_text = s.call_text or bool(m.content)
        if m.tool_calls is not UNSET:
            s.tool_ids = s.tool_ids.union(c.id for c in m.tool_calls)
            s.bad_args = s.bad_args or any(arguments_problem(c.function.arguments) for c in m.tool_calls)
        if m.function_call is not UNSET:
            s.bad_args = s.bad_args or arguments_problem(m.function_call.arguments) is not None
    elif not m.content:
        s.empty_answer = True
    if m.reasoning_content is not UNSET:
        s.reasoning += 1
    w = m.weight
    if w is not UNSET and w != 1:
        if w == 0:
            s.weight_zero = True
        else:
            s.weight_fraction = True
            s.bad_weight = s.bad_weight or not 0 <= w <= 1


def _content(s: Scan, content: object) -> None:
    if content is None or isinstance(content, str):
        return
    s.non_str = True
    if isinstance(content, list) and any(p.get("type", "text") != "text" for p in content):
        s.non_text_parts = True


def clean(s: Scan, conv: Conversation, caps: Caps) -> bool:
    """True when no shared rule of a target with these caps can fire for this conversation."""
    if not conv.messages or conv.is_preference or s.legacy or s.bad_role or s.bad_weight or s.empty_answer:
        return False
    if s.no_content:
        return False
    if not s.has_assistant or (s.weight_fraction and caps.weights == "binary"):
        return False
    if s.non_str and not caps.content_parts:
        return False
    if s.system_late and (caps.system != "message" or caps.alternation):
        return False
    if caps.alternation and (s.first_not_user or s.same_role):
        return False
    if caps.end_assistant and conv.messages[-1].role != "assistant":
        return False
    if (s.tool_use or conv.tools) and (not caps.tools or s.tool_unpaired or s.bad_args):
        return False
    if caps.max_turns is not None and s.users > caps.max_turns:
        return False
    return caps.multi_turn or s.users <= 1
