"""Alibaba Bailian (Model Studio) / DashScope: Qwen SFT ``messages`` and its DPO shape.

Source: https://help.aliyun.com/zh/model-studio/text-generation-tuning-data-upload-rules;
API guide https://www.alibabacloud.com/help/zh/doc-detail/2712471.html. OpenAI ``weight`` is not
supported (every answer is trained); reasoning goes into the *last* answer as
``<think>\\n…\\n</think>\\n\\n``.

``content``: the pages disagree by version. The API guide (June 2026) and the upload rules page on
alibabacloud.com (August 2026) show a plain string for text and keep ``[{"text": …}]`` arrays for
multimodal data; the help.aliyun.com copy of the upload rules shows arrays for text too, and the
tool-calling example (Qwen3.5+) uses arrays. Both say one dataset may mix line styles. The default
is ``content=string`` — the form every dated page shows for text and every Qwen generation has
been trained with; ``--set bailian.content=parts`` writes arrays. Either way it is the same on every
line of a file: a column that is a string on some lines and a list on others breaks columnar readers.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET

from finetune.model import Conversation, Message
from finetune.targets._messages import MessagesLine, MsgOut, read_messages, write_messages
from finetune.targets.base import Caps, Options, Target

#: "单文件大小上限 200 MB" for SFT/DPO files (console); the Files API allows 300 MB for fine-tune.
#: MB read as 10^6 bytes, the smaller reading, so a part never exceeds either.
MAX_FILE_BYTES = 200_000_000
LIMITS_SOURCE = "https://help.aliyun.com/zh/model-studio/text-generation-tuning-data-upload-rules"


def _parts(m: MsgOut | Message) -> MsgOut | Message:
    content = m.content if isinstance(m.content, list) else [{"text": m.content or ""}]
    return msgspec.structs.replace(m, content=content)


def write(conv: Conversation, options: Options) -> Any:
    """The messages line; with ``content=parts`` every content is a ``[{"text": ..}]`` array."""
    line = write_messages(conv, None, "think")
    if options.get("content") != "parts":
        return line
    return MessagesLine(
        messages=[_parts(m) for m in line.messages],
        tools=line.tools,
        chosen=_parts(line.chosen) if line.chosen is not UNSET else UNSET,
        rejected=_parts(line.rejected) if line.rejected is not UNSET else UNSET,
    )


TARGET = Target(
    name="bailian",
    title="Alibaba Bailian / DashScope (Qwen) SFT + DPO",
    source="https://help.aliyun.com/zh/model-studio/text-generation-tuning-data-upload-rules",
    caps=Caps(tools=True, preference=True, reasoning="think", max_file_bytes=MAX_FILE_BYTES, min_samples=1000),
    write=write,
    read=read_messages,
    tokenizer="qwen",
    options={"content": "string"},
    sparse_keys=("tools",),
    limits_source=LIMITS_SOURCE,
    notes=(
        "content=string: dated pages show strings for text (arrays for multimodal); the tool-calling "
        'example uses [{"text": ...}] arrays (--set bailian.content=parts, then on every line)',
        "tools are only documented for Qwen3.5+",
        "min_samples=1000 is the recommendation for SFT (100 pairs for DPO), not a hard limit",
        "max_file_bytes=200MB is the console limit for SFT/DPO files; the API takes 300MB "
        "(--set bailian.max_file_bytes=300000000)",
    ),
)
