"""Alibaba Bailian / DashScope: the native API under ``https://dashscope.aliyuncs.com/api/v1`` (Beijing only for
fine-tuning). ``POST /files`` multipart ``files`` + ``purpose=fine-tune`` answers ``data.uploaded_files[].file_id``
(https://help.aliyun.com/zh/model-studio/model-customization-file-management-service); ``POST /fine-tunes``
``{model, training_file_ids, hyper_parameters: {n_epochs}, training_type: "sft"}``, ``GET /fine-tunes[/{id}]``
answer ``output`` with ``job_id``, ``status``, ``usage`` (tokens trained), ``finetuned_output``
(https://help.aliyun.com/zh/model-studio/developer-reference/model-training-api-reference,
https://help.aliyun.com/en/model-studio/fine-tuning-job-object-api). A provider's compatible-mode base URL is
rewritten to the native one."""

from __future__ import annotations

from finetune.push.base import FineTuneApi

API = FineTuneApi(
    name="bailian",
    vendors=("qwen",),
    shape="dashscope",
    base_url="https://dashscope.aliyuncs.com/api/v1",
    source="https://help.aliyun.com/zh/model-studio/developer-reference/model-training-api-reference",
    jobs_path="/fine-tunes",
    statuses={
        "PENDING": "queued",
        "QUEUING": "queued",
        "RUNNING": "running",
        "SUCCEEDED": "succeeded",
        "FAILED": "failed",
        "CANCELED": "cancelled",
    },
    rebase=(("/compatible-mode/v1", "/api/v1"),),
    notes=(
        "status words: SUCCEEDED and CANCELED are in the documented examples; PENDING, QUEUING, RUNNING and "
        "FAILED are assumed (override: --set status.<WORD>=<state>)",
    ),
)
