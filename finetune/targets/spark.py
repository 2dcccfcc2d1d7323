"""iFlytek Spark (星辰MaaS): LLaMA-Factory's ShareGPT (default) or Alpaca fields.

Source: https://www.xfyun.cn/doc/spark/数据集格式说明.html
"""

from __future__ import annotations

from typing import Any

from finetune.model import Conversation
from finetune.targets._sharegpt import read_sharegpt, write_sharegpt
from finetune.targets.alpaca import read_alpaca, write_alpaca
from finetune.targets.base import Caps, Options, Target


def write(conv: Conversation, options: Options) -> Any:
    """A ShareGPT line, or Alpaca with ``format=alpaca``."""
    return write_alpaca(conv) if options.get("format") == "alpaca" else write_sharegpt(conv)


def read(line: bytes) -> Conversation:
    """Either format, told apart by its keys."""
    return read_sharegpt(line) if b'"conversations"' in line else read_alpaca(line)


TARGET = Target(
    name="spark",
    title="iFlytek Spark 星辰MaaS (ShareGPT or Alpaca)",
    source="https://www.xfyun.cn/doc/spark/数据集格式说明.html",
    caps=Caps(tools=True, tool_call_text=False, reasoning="think"),
    write=write,
    read=read,
    options={"format": "sharegpt"},
    notes=(
        "DPO not confirmed: preference off (--set spark.preference=true writes chosen/rejected turns)",
        "JSONL vs JSON-array upload and size limits unconfirmed; we write JSONL",
    ),
)
