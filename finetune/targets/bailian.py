"""Alibaba Bailian (Model Studio) / DashScope: Qwen SFT ``messages`` and its DPO shape.

Source: https://help.aliyun.com/zh/model-studio/text-generation-tuning-data-upload-rules (mirror);
DPO: same page family (``messages`` ending on user + ``chosen``/``rejected`` objects).
OpenAI ``weight`` is not supported (every answer is trained); reasoning goes into the *last*
answer as ``<think>\\n…\\n</think>\\n\\n``. Tool lines use the documented content-array form.
"""

from __future__ import annotations

from typing import Any

import msgspec

from finetune.model import Conversation, Message
from finetune.targets._messages import MsgOut, read_messages, write_messages
from finetune.targets.base import Caps, Options, Target


def _parts(m: MsgOut | Message) -> MsgOut | Message:
    content = m.content if isinstance(m.content, list) else [{"text": m.content or ""}]
    return msgspec.structs.replace(m, content=content)


def write(conv: Conversation, options: Options) -> Any:
    """The messages line; with tools, contents become ``[{"text": ..}]`` arrays as documented."""
    line = write_messages(conv, None, "think")
    if not conv.tools or options.get("tool_content") == "string":
        return line
    return msgspec.structs.replace(line, messages=[_parts(m) for m in line.messages])


TARGET = Target(
    name="bailian",
    title="Alibaba Bailian / DashScope (Qwen) SFT + DPO",
    source="https://help.aliyun.com/zh/model-studio/text-generation-tuning-data-upload-rules",
    caps=Caps(tools=True, preference=True, reasoning="think", max_file_bytes=200 << 20, min_samples=1000),
    write=write,
    read=read_messages,
    tokenizer="qwen",
    options={"tool_content": "parts"},
    notes=(
        "tools are only documented for Qwen3.5+ with content arrays; plain-string content on tool "
        "lines is unconfirmed (--set bailian.tool_content=string)",
        "min_samples=1000 is the recommendation for SFT (100 pairs for DPO), not a hard limit",
        "max_file_bytes=200MB is the console limit; the API limit is 300MB (--set bailian.max_file_bytes=N)",
    ),
)
