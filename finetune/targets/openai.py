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

from finetune.model import Conversation, Message, PreferenceInput
from finetune.readers import read_openai
from finetune.targets.base import Caps, Options, Rule, Target

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
        max_file_bytes=512 << 20,
        min_samples=10,
    ),
    write=write,
    read=read_openai,
    extra_rules=(Rule("content.parts", "content parts are text or image_url only", _part_types),),
    notes=(
        "max_tokens=65536 is the gpt-4o/4o-mini training context; gpt-3.5 uses 16385 and the gpt-4.1 "
        "limit is unconfirmed (--set openai.max_tokens=N)",
    ),
)
