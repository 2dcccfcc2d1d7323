"""Baidu Qianfan, Role(user+assistant) template: OpenAI-like ``messages``, ≤150 turns.

Source: https://cloud.baidu.com/doc/qianfan/s/Zmh4su9vy
"""

from __future__ import annotations

from typing import Any

from finetune.model import Conversation
from finetune.targets._messages import read_messages, write_messages
from finetune.targets.base import Caps, Options, Target
from finetune.targets.qianfan_pr import LIMITS_SOURCE, MAX_FILE_BYTES


def write(conv: Conversation, options: Options) -> Any:
    """The messages line; every assistant message carries ``weight`` (1 where the source has none)."""
    return write_messages(conv, "weight", "drop", fill_weight=True)


TARGET = Target(
    name="qianfan",
    title="Baidu Qianfan Role(user+assistant) messages SFT",
    source="https://cloud.baidu.com/doc/qianfan/s/Zmh4su9vy",
    caps=Caps(weights="binary", max_turns=150, max_file_bytes=MAX_FILE_BYTES),
    write=write,
    read=read_messages,
    sparse_keys=("tools",),
    limits_source=LIMITS_SOURCE,
    notes=(
        "weight placement on assistant messages is assumed from the Prompt+Response template",
        "function-calling line shape not captured: tools off (--set qianfan.tools=true writes OpenAI's)",
        "max_file_bytes=512MB is the v2 Files API cap; console import allows 1GB",
        "every assistant message carries weight (1 if none) so that every line has the same keys",
    ),
)
