"""Tencent TI-ONE / Hunyuan: ``messages``, must end with assistant, reasoning in ``<think>`` tags.

Source: https://cloud.tencent.com/document/product/851/123443
(EN: https://www.tencentcloud.com/document/product/1141/73647).
"""

from __future__ import annotations

from typing import Any

from finetune.model import Conversation
from finetune.targets._messages import read_messages, write_messages
from finetune.targets.base import Caps, Options, Target


def write(conv: Conversation, options: Options) -> Any:
    """The messages line with reasoning as ``<think>`` in the last answer."""
    return write_messages(conv, None, "think")


TARGET = Target(
    name="tencent",
    title="Tencent TI-ONE / Hunyuan SFT",
    source="https://cloud.tencent.com/document/product/851/123443",
    caps=Caps(reasoning="think"),
    write=write,
    read=read_messages,
    notes=(
        "tools, weights and DPO are not documented: unsupported by default",
        "no file size limit documented: output is not split",
    ),
)
