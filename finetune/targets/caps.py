"""What a target can express (:class:`Caps`) and what a validation rule is (:class:`Rule`).

The bottom of the targets package: ``rules`` builds rules from caps, ``base`` builds targets from
both, and nothing here imports either of them (imports flow caps → rules → base).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from finetune.model import Conversation

#: A rule check yields ``(json_path, reason)`` for each violation.
Check = Callable[[Conversation, "Caps"], Iterator[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Caps:
    """What a target's format can express, and its limits (``None`` = no known limit)."""

    system: Literal["message", "field", "fold"] = "message"
    tools: bool = False
    #: False where a tool-call turn cannot also carry text (ShareGPT function_call, ms-swift tool_call).
    tool_call_text: bool = True
    weights: Literal["none", "binary", "float"] = "none"
    #: Preference pairs (DPO): a chosen and a rejected answer to one prompt.
    preference: bool = False
    #: KTO samples: one answer to a prompt, labelled desirable or undesirable.
    kto: bool = False
    #: Ranking samples: several scored answers to one prompt (reward-model data).
    ranking: bool = False
    alternation: bool = True
    end_assistant: bool = True
    reasoning: Literal["field", "think", "drop"] = "drop"
    content_parts: bool = False
    multi_turn: bool = True
    max_turns: int | None = None
    max_tokens: int | None = None
    max_file_bytes: int | None = None
    #: Fewer samples than this draws a warning (a vendor minimum or recommendation).
    min_samples: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """A validation rule: a stable id, one line of explanation, and its check."""

    id: str
    text: str
    check: Check
