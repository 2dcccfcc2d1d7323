"""OpenAI chat fine-tuning (SFT and DPO): validate and clean OpenAI's own format.

Source: OpenAI API reference, fine-tuning chat input
(https://platform.openai.com/docs/api-reference/fine-tuning/chat-input); DPO guide
(https://developers.openai.com/api/docs/guides/direct-preference-optimization).
Writing from typed Structs drops keys OpenAI does not accept (provenance, ``reasoning_content``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from msgspec import UNSET, Struct

from finetune.model import Content, Conversation, Message, PreferenceInput
from finetune.readers import read_openai
from finetune.targets.base import Caps, Options, Rule, Target

#: "Individual files can be up to 512 MB" (Files API); MB read as 10^6 bytes, the smaller reading.
MAX_FILE_BYTES = 512_000_000
LIMITS_SOURCE = "https://platform.openai.com/docs/api-reference/files/create"
#: Content part types OpenAI fine-tuning accepts (audio and file parts are not supported).
PART_TYPES = frozenset({"text", "image_url"})


def _part_types(conv: Conversation, caps: Caps) -> Iterator[tuple[str, str]]:
    for i, m in enumerate(conv.messages):
        if isinstance(m.content, list):
            for k, part in enumerate(m.content):
                if part.get("type", "text") not in PART_TYPES:
                    yield (
                        f"$.messages[{i}].content[{k}].type",
                        f"part type {part.get('type')!r} is not accepted",
                    )


class _Call(Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    arguments: str = "{}"


class _ToolCall(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str = ""
    type: str = "function"
    function: _Call


class _Message(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: str
    content: Content = None
    name: str | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None
    function_call: _Call | None = None
    weight: int | float | None = None
    refusal: str | None = None


class _Input(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    messages: list[_Message] = []
    tools: list[dict[str, Any]] | None = None
    parallel_tool_calls: bool | None = None


class _Line(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Exactly the keys OpenAI's fine-tuning schema allows (validate only; convert drops the rest)."""

    messages: list[_Message] = []
    tools: list[dict[str, Any]] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    input: _Input | None = None
    preferred_output: list[_Message] | None = None
    non_preferred_output: list[_Message] | None = None


_strict = msgspec.json.Decoder(_Line)


def read_strict(line: bytes) -> Conversation:
    """Like :func:`read_openai`, but a key outside OpenAI's schema is an error (with its JSON path)."""
    _strict.decode(line)
    return read_openai(line)


class PreferenceLine(Struct, frozen=True, kw_only=True):
    input: PreferenceInput
    preferred_output: list[Message]
    non_preferred_output: list[Message]


def write(conv: Conversation, options: Options) -> Any:
    """An SFT line as is (minus provenance), or a preference line with ``input``."""
    if conv.is_preference:
        assert conv.preferred_output is not UNSET and conv.non_preferred_output is not UNSET
        prompt = PreferenceInput(
            messages=conv.messages, tools=conv.tools, parallel_tool_calls=conv.parallel_tool_calls
        )
        return PreferenceLine(
            input=prompt,
            preferred_output=conv.preferred_output,
            non_preferred_output=conv.non_preferred_output,
        )
    if conv.provider is UNSET and conv.vendor is UNSET and conv.model is UNSET:
        return conv
    return msgspec.structs.replace(conv, provider=UNSET, vendor=UNSET, model=UNSET)


TARGET = Target(
    name="openai",
    title="OpenAI chat fine-tuning (SFT, DPO)",
    source="https://platform.openai.com/docs/api-reference/fine-tuning/chat-input",
    caps=Caps(
        tools=True,
        weights="binary",
        preference=True,
        alternation=False,
        content_parts=True,
        max_tokens=65_536,
        max_file_bytes=MAX_FILE_BYTES,
        min_samples=10,
    ),
    write=write,
    read=read_openai,
    validate_read=read_strict,
    sparse_keys=("tools", "parallel_tool_calls", "functions"),
    limits_source=LIMITS_SOURCE,
    extra_rules=(Rule("content.parts", "content parts are text or image_url only", _part_types),),
    notes=(
        "max_tokens=65536 is the gpt-4o/4o-mini training context; gpt-3.5 uses 16385 and the gpt-4.1 "
        "limit is unconfirmed (--set openai.max_tokens=N)",
    ),
)
