"""SiliconFlow: its guide documents fine-tuning in the console (chat JSONL, ``messages`` with alternating
user/assistant turns; https://docs.siliconflow.cn/en/userguide/guides/fine-tune) and an OpenAI-style
``/v1/files`` for batches (https://docs.siliconflow.cn/cn/api-reference/batch/upload-file); no fine-tuning
API page was found. OpenAI's shape is assumed, unconfirmed: override the paths if SiliconFlow's differ."""

from __future__ import annotations

from finetune.push.base import FineTuneApi
from finetune.push.openai import OPENAI_STATUSES

API = FineTuneApi(
    name="siliconflow",
    vendors=("siliconflow",),
    shape="openai",
    base_url="https://api.siliconflow.cn/v1",
    source="https://docs.siliconflow.cn/en/userguide/guides/fine-tune",
    statuses=OPENAI_STATUSES,
    notes=("the whole API is unconfirmed: OpenAI's paths and fields assumed (--set files_path=, jobs_path=)",),
)
