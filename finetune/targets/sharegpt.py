"""ShareGPT (LLaMA-Factory tags: human/gpt/function_call/observation) for open-weight fine-tuning.

Source: https://github.com/hiyouga/LLaMA-Factory/blob/main/data/README.md
"""

from __future__ import annotations

from typing import Any

from finetune.model import Conversation
from finetune.targets._sharegpt import read_sharegpt, write_sharegpt
from finetune.targets.base import Caps, Options, Target


def write(conv: Conversation, options: Options) -> Any:
    """The ShareGPT line."""
    return write_sharegpt(conv)


TARGET = Target(
    name="sharegpt",
    title="ShareGPT conversations (open formats)",
    source="https://github.com/hiyouga/LLaMA-Factory/blob/main/data/README.md",
    caps=Caps(tools=True, tool_call_text=False, preference=True, reasoning="think"),
    write=write,
    read=read_sharegpt,
    tokenizer="qwen",
)
