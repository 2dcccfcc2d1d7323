"""SiliconFlow (SiliconCloud) LoRA fine-tuning: ``messages``, strict alternation, no tools.

Source: https://docs.siliconflow.cn/en/userguide/guides/fine-tune
"""

from __future__ import annotations

from typing import Any

from finetune.model import Conversation
from finetune.targets._messages import read_messages, write_messages
from finetune.targets.base import Caps, Options, Target


def write(conv: Conversation, options: Options) -> Any:
    """The plain messages line."""
    return write_messages(conv, None, "drop")


TARGET = Target(
    name="siliconflow",
    title="SiliconFlow LoRA SFT (Qwen2.5, Llama-3.1)",
    source="https://docs.siliconflow.cn/en/userguide/guides/fine-tune",
    caps=Caps(),
    write=write,
    read=read_messages,
    tokenizer="qwen",
    notes=("row, file-size and per-sample token limits are unconfirmed",),
)
