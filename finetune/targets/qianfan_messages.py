"""Baidu Qianfan, Role(user+assistant) template: OpenAI-like ``messages``, ≤150 turns.

Source: https://cloud.baidu.com/doc/qianfan/s/Zmh4su9vy
"""

from __future__ import annotations

from typing import Any

from finetune.model import Conversation
from finetune.targets._messages import read_messages, write_messages
from finetune.targets.base import Caps, Options, Target


def write(conv: Conversation, options: Options) -> Any:
    """The messages line, OpenAI ``weight`` kept on assistant messages."""
    return write_messages(conv, "weight", "drop")


TARGET = Target(
    name="qianfan",
    title="Baidu Qianfan Role(user+assistant) messages SFT",
    source="https://cloud.baidu.com/doc/qianfan/s/Zmh4su9vy",
    caps=Caps(weights="binary", max_turns=150, max_file_bytes=512 << 20),
    write=write,
    read=read_messages,
    notes=(
        "weight placement on assistant messages is assumed from the Prompt+Response template",
        "function-calling line shape not captured: tools off (--set qianfan.tools=true writes OpenAI's)",
        "max_file_bytes=512MB is the v2 Files API cap; console import allows 1GB",
    ),
)
