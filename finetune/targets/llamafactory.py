"""LLaMA-Factory: ShareGPT (default) or Alpaca lines plus the ``dataset_info.json`` that registers them.

Source: https://github.com/hiyouga/LLaMA-Factory/blob/main/data/README.md
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from finetune.model import Conversation
from finetune.targets._sharegpt import read_sharegpt, write_sharegpt
from finetune.targets.alpaca import read_alpaca, write_alpaca
from finetune.targets.base import Caps, Options, Target

_SHAREGPT: dict[str, Any] = {
    "formatting": "sharegpt",
    "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
    "tags": {
        "role_tag": "from",
        "content_tag": "value",
        "user_tag": "human",
        "assistant_tag": "gpt",
        "observation_tag": "observation",
        "function_tag": "function_call",
    },
}
_ALPACA: dict[str, Any] = {
    "columns": {
        "prompt": "instruction",
        "query": "input",
        "response": "output",
        "system": "system",
        "history": "history",
    }
}


def write(conv: Conversation, options: Options) -> Any:
    """A ShareGPT line, or an Alpaca line with ``formatting=alpaca``."""
    return write_alpaca(conv) if options.get("formatting") == "alpaca" else write_sharegpt(conv)


def read(line: bytes) -> Conversation:
    """Either formatting, told apart by its keys."""
    return read_sharegpt(line) if b'"conversations"' in line else read_alpaca(line)


def dataset_info(out: Path, paths: Sequence[Path], options: Options, preference: bool) -> dict[Path, bytes]:
    """``dataset_info.json`` next to the output, one entry per written file."""
    base = _ALPACA if options.get("formatting") == "alpaca" else _SHAREGPT
    entries: dict[str, Any] = {}
    for path in paths:
        entry: dict[str, Any] = {"file_name": path.name, **base}
        if preference:
            entry = {
                **entry,
                "ranking": True,
                "columns": {**base["columns"], "chosen": "chosen", "rejected": "rejected"},
            }
            entry["columns"].pop("response", None)
        entries[path.name.removesuffix(".jsonl").replace(".", "_")] = entry
    return {out.with_name("dataset_info.json"): msgspec.json.format(msgspec.json.encode(entries), indent=2) + b"\n"}


TARGET = Target(
    name="llamafactory",
    title="LLaMA-Factory (ShareGPT or Alpaca) + dataset_info.json",
    source="https://github.com/hiyouga/LLaMA-Factory/blob/main/data/README.md",
    caps=Caps(tools=True, tool_call_text=False, preference=True, reasoning="think"),
    write=write,
    read=read,
    tokenizer="qwen",
    options={"formatting": "sharegpt"},
    finish=dataset_info,
    notes=("no per-turn loss field: weight-0 turns are trained unless --weights drop|split",),
)
