"""The target registry: one module per fine-tuning format, and the vendors that have none.

Adding a target: write ``finetune/targets/<name>.py`` exporting ``TARGET``, add it to the tuple
below, add its golden files under ``tests/finetune/golden/<name>/``.
"""

from __future__ import annotations

from finetune.targets import (
    alpaca,
    bailian,
    llamafactory,
    minimax,
    openai,
    qianfan_messages,
    qianfan_pr,
    sharegpt,
    siliconflow,
    spark,
    swift,
    tencent,
    volcengine,
    zhipu,
)
from finetune.targets.base import Caps, Rule, Target

__all__ = ["NO_FINETUNE", "TARGETS", "Caps", "Rule", "Target", "unsupported_message"]

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        openai.TARGET,
        qianfan_pr.TARGET,
        qianfan_messages.TARGET,
        bailian.TARGET,
        zhipu.TARGET,
        volcengine.TARGET,
        tencent.TARGET,
        spark.TARGET,
        siliconflow.TARGET,
        minimax.TARGET,
        sharegpt.TARGET,
        alpaca.TARGET,
        llamafactory.TARGET,
        swift.TARGET,
    )
}

#: Vendors without a public hosted fine-tuning service (research: finetune-formats.md §8, §10),
#: with what their open weights are usually fine-tuned with.
NO_FINETUNE: dict[str, str] = {
    "deepseek": "DeepSeek's API has no fine-tuning; fine-tune the open DeepSeek weights",
    "moonshot": "Moonshot (Kimi) documents no fine-tuning API; fine-tune the open Kimi K2 weights",
    "kimi": "Moonshot (Kimi) documents no fine-tuning API; fine-tune the open Kimi K2 weights",
    "yi": "01.AI Yi documents no fine-tuning API; fine-tune the open Yi weights",
    "stepfun": "StepFun documents no fine-tuning API; fine-tune the open Step weights",
    "tiangong": "Kunlun Tiangong documents no fine-tuning API",
    "baichuan": "Baichuan's Files API has no fine-tune purpose; fine-tune the open Baichuan2 weights",
}


def unsupported_message(name: str) -> str:
    """The message for a vendor with no fine-tuning service, naming the open formats to use."""
    reason = NO_FINETUNE[name]
    return (
        f"{reason} with LLaMA-Factory or ms-swift: use --to llamafactory (ShareGPT + dataset_info.json), "
        f"--to swift, --to sharegpt or --to alpaca. Hosted alternatives: --to siliconflow, --to bailian."
    )
