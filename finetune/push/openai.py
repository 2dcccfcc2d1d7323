"""OpenAI: ``POST /v1/files`` (``purpose=fine-tune``), ``POST /v1/fine_tuning/jobs`` ``{model, training_file,
hyperparameters: {n_epochs}, suffix}``, ``GET /v1/fine_tuning/jobs[/{id}]``; statuses ``validating_files``,
``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled``; ``trained_tokens``, ``fine_tuned_model``,
``error {code, message}`` (https://platform.openai.com/docs/api-reference/fine-tuning, the types in
github:openai/openai-python src/openai/types/fine_tuning/fine_tuning_job.py)."""

from __future__ import annotations

from finetune.push.base import FineTuneApi

OPENAI_STATUSES = {
    "validating_files": "queued",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}

API = FineTuneApi(
    name="openai",
    vendors=("openai",),
    shape="openai",
    base_url="https://api.openai.com/v1",
    source="https://platform.openai.com/docs/api-reference/fine-tuning",
    statuses=OPENAI_STATUSES,
)
