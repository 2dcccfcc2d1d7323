"""Zhipu (bigmodel.cn): OpenAI's shape under ``/api/paas/v4``: ``files.create(file, purpose="fine-tune")``
posts ``/files``; ``fine_tuning.jobs.create(model, training_file, validation_file, hyperparameters, suffix)``
posts ``/fine_tuning/jobs``; ``retrieve``/``list`` read ``/fine_tuning/jobs[/{id}]``; the job has ``status``,
``trained_tokens``, ``fine_tuned_model`` and ``error {code, message}`` (github:MetaGLM/zhipuai-sdk-python-v4
zhipuai/api_resource/fine_tuning/jobs/jobs.py, zhipuai/api_resource/files.py,
zhipuai/types/fine_tuning/fine_tuning_job.py)."""

from __future__ import annotations

from finetune.push.base import FineTuneApi
from finetune.push.openai import OPENAI_STATUSES

API = FineTuneApi(
    name="zhipu",
    vendors=("glm",),
    shape="openai",
    base_url="https://open.bigmodel.cn/api/paas/v4",
    source="github:MetaGLM/zhipuai-sdk-python-v4 zhipuai/api_resource/fine_tuning/jobs/jobs.py",
    statuses={**OPENAI_STATUSES, "create": "queued"},
    notes=(
        "status words: the SDK types status as a string; OpenAI's words are assumed, and 'create' as queued "
        "(override: --set status.<WORD>=<state>)",
    ),
)
