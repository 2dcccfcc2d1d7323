"""The canonical conversation: OpenAI's fine-tuning line, typed, plus where it came from.

OpenAI's chat fine-tuning format is the richest of the formats we read (tools, weights, preference
pairs), so the canonical model *is* that line, decoded by msgspec straight into Structs. A
preference line keeps its prompt in ``messages`` (the reader lifts ``input.messages``) and its two
answers in ``preferred_output`` / ``non_preferred_output``. ``provider``, ``vendor`` and ``model`` record the
source of a gateway transcript; writers never emit them.

Values are frozen: transforms return new objects (``msgspec.structs.replace``) only when they
change something, so the common path copies nothing. Structs are ``gc=False``: they never form
reference cycles, and skipping the cycle collector is worth ~10% of conversion time.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType

from balancer import nesting

#: Message content: text, a list of OpenAI content parts, or absent (tool-call-only turns).
Content = str | list[dict[str, Any]] | None

#: Roles whose messages must carry content: OpenAI's schema requires ``content`` on system, user and
#: tool messages (only assistant turns with tool calls and legacy ``function`` results may omit it).
NEEDS_CONTENT = frozenset({"system", "user", "tool"})


class FunctionCall(Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """A function call; ``arguments`` is a JSON *string*, as OpenAI sends it."""

    name: str
    arguments: str = "{}"


class ToolCall(Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """One entry of an assistant message's ``tool_calls``."""

    id: str = ""
    type: str = "function"
    function: FunctionCall


class Message(Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """One chat message. ``weight`` (0 or 1) exists only on assistant messages."""

    role: str
    content: Content = None
    name: str | UnsetType = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET
    function_call: FunctionCall | UnsetType = UNSET
    weight: int | float | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET
    refusal: str | UnsetType | None = UNSET


class PreferenceInput(Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """The ``input`` object of an OpenAI preference (DPO) line."""

    messages: list[Message] = []
    tools: list[dict[str, Any]] | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET


class Ranked(Struct, frozen=True, kw_only=True, gc=False):
    """One candidate answer of a ranking sample and its score (higher is better)."""

    content: str
    score: int | float


#: What a sample trains: supervised answers, a preference pair, one answer labelled good or bad
#: (KTO), or several answers with scores (ranking / reward model).
Kind = Literal["sft", "dpo", "kto", "ranking"]


class Conversation(Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """One training sample, plus its provenance.

    Beyond OpenAI's line (a bridge extension, read from OpenAI-shaped input too): a preference
    line with only ``preferred_output`` (a desirable answer) or only ``non_preferred_output`` (an
    undesirable one) is a KTO sample; ``ranked_outputs`` holds scored candidates for ranking.
    """

    messages: list[Message] = []
    tools: list[dict[str, Any]] | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET
    functions: list[dict[str, Any]] | UnsetType = UNSET
    input: PreferenceInput | UnsetType = UNSET
    preferred_output: list[Message] | UnsetType = UNSET
    non_preferred_output: list[Message] | UnsetType = UNSET
    ranked_outputs: list[Ranked] | UnsetType = UNSET
    provider: str | UnsetType = UNSET
    vendor: str | UnsetType = UNSET
    model: str | UnsetType = UNSET

    @property
    def is_preference(self) -> bool:
        """True for any preference sample (pair, KTO or ranking): ``messages`` is the prompt."""
        return (
            self.preferred_output is not UNSET
            or self.non_preferred_output is not UNSET
            or self.ranked_outputs is not UNSET
        )

    @property
    def kind(self) -> Kind:
        """What this sample trains (see :data:`Kind`)."""
        if self.ranked_outputs is not UNSET:
            return "ranking"
        good, bad = self.preferred_output is not UNSET, self.non_preferred_output is not UNSET
        if good and bad:
            return "dpo"
        return "kto" if good or bad else "sft"


_any_json = msgspec.json.Decoder()

#: How deeply a line, or JSON held in one of its strings (a tool call's arguments), may nest arrays and objects:
#: the gateway's limit. Vendors' parsers refuse deeper (Rust's serde_json: 128 levels), and msgspec recurses on the
#: C stack (about 950 levels: a RecursionError, no reason a user can act on).
MAX_DEPTH = nesting.MAX_DEPTH


def depth_problem(data: bytes | str, what: str) -> str | None:
    """Why JSON text ``data`` nests too deeply to be read (``what`` names it), or None. Counting brackets, not
    decoding: any depth is measured in one pass."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not nesting.too_deep(raw):
        return None
    return (
        f"{what} nests JSON arrays and objects {nesting.depth(raw)} levels deep; at most {MAX_DEPTH} are read "
        "(vendors' JSON parsers refuse deeper ones)"
    )


_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def arguments_problem(arguments: str) -> str | None:
    """Why a tool call's ``arguments`` is not what every vendor takes (a JSON object encoded as a
    string), or None when it is."""
    if arguments == "{}":
        return None
    if not arguments.strip():
        return 'arguments is empty; a call without arguments takes "{}"'
    deep = depth_problem(arguments, "the arguments string")
    if deep is not None:
        return deep
    try:
        value = _any_json.decode(arguments)
    except msgspec.DecodeError:
        shown = arguments if len(arguments) <= 40 else arguments[:37] + "..."
        return f"arguments must be a JSON object in a string; {shown!r} is not valid JSON"
    if isinstance(value, dict):
        return None
    return f"arguments must be a JSON object in a string, not a JSON {_JSON_KINDS.get(type(value), 'value')}"


def text_of(content: Content) -> str:
    """The text of a message's content: the string, or its text parts joined (others ignored)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content if p.get("type", "text") == "text")


def normalise_preference(conv: Conversation) -> Conversation:
    """Lift ``input`` of a preference line into the canonical fields (no-op for SFT lines)."""
    if conv.input is UNSET:
        return conv
    inp = conv.input
    return msgspec.structs.replace(
        conv,
        input=UNSET,
        messages=inp.messages,
        tools=inp.tools,
        parallel_tool_calls=inp.parallel_tool_calls,
    )


def chosen(conv: Conversation) -> Message | None:
    """The first assistant message of the preferred output, if any."""
    return _first_assistant(conv.preferred_output)


def rejected(conv: Conversation) -> Message | None:
    """The first assistant message of the non-preferred output, if any."""
    return _first_assistant(conv.non_preferred_output)


def _first_assistant(out: list[Message] | UnsetType) -> Message | None:
    if out is UNSET:
        return None
    return next((m for m in out if m.role == "assistant"), None)


def preference(messages: list[Message], good: Message, bad: Message, **kw: Any) -> Conversation:
    """Build a canonical preference pair from a prompt and two assistant answers."""
    return Conversation(messages=messages, preferred_output=[good], non_preferred_output=[bad], **kw)
