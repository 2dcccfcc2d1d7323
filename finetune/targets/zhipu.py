"""Zhipu GLM (bigmodel.cn) SFT ``messages``; DPO assumed to share Bailian's shape.

Source: official SDK fine-tuning demo file
(https://github.com/MetaGLM/zhipuai-sdk-python-v4/blob/main/tests/integration_tests/demo.jsonl);
methods: https://docs.bigmodel.cn/cn/guide/tools/fine-tuning.
"""

from __future__ import annotations

from typing import Any

from finetune.model import Conversation
from finetune.targets._messages import read_messages, write_messages
from finetune.targets.base import Caps, Options, Target

#: Upload error 435: "File size exceeds 100MB" (use a smaller jsonl file or upload in batches).
#: MB read as 10^6 bytes, the smaller reading, so a part never exceeds either.
MAX_FILE_BYTES = 100_000_000
LIMITS_SOURCE = "https://docs.z.ai/api-reference/api-code"


def write(conv: Conversation, options: Options) -> Any:
    """The messages line (``chosen``/``rejected`` objects for a preference pair)."""
    return write_messages(conv, None, "drop")


TARGET = Target(
    name="zhipu",
    title="Zhipu GLM (bigmodel.cn) SFT + DPO",
    source="https://docs.bigmodel.cn/cn/guide/tools/fine-tuning",
    caps=Caps(preference=True, max_file_bytes=MAX_FILE_BYTES),
    write=write,
    read=read_messages,
    limits_source=LIMITS_SOURCE,
    notes=(
        "DPO shape (chosen/rejected message objects) is third-party evidence only",
        "hosted function-call SFT shape unconfirmed: tools off (--set zhipu.tools=true writes OpenAI's)",
        "sample-count limits unconfirmed",
    ),
)
