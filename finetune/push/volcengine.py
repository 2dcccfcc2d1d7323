"""Volcengine Ark: ``CreateModelCustomizationJob`` (Version 2024-01-01; ``ModelReference``, ``Data`` from TOS,
``Hyperparameters``, ``CustomizationType`` FinetuneSft/FinetuneLoRA; https://www.volcengine.com/docs/82379/1262829)
is an AK/SK-signed OpenAPI call whose training data lives in TOS."""

from __future__ import annotations

from finetune.push.base import FineTuneApi

API = FineTuneApi(
    name="volcengine",
    vendors=("doubao",),
    shape="unsupported",
    base_url="https://ark.cn-beijing.volcengineapi.com",
    source="https://www.volcengine.com/docs/82379/1262829",
    unsupported=(
        "Ark's fine-tuning (CreateModelCustomizationJob) is an AK/SK-signed OpenAPI call reading its data from "
        "TOS; the gateway's config holds an ARK inference key only. Upload the file (finetune convert --to "
        "volcengine) to TOS and create the job in the Ark console."
    ),
)
