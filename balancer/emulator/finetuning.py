"""Fine-tuning jobs as each vendor's API shows them: created from an uploaded file, then one status further
on every poll of the job (queued → running → succeeded, in the vendor's own words), with the trained tokens
counted from the file (the emulator's tokenizer × epochs).

Two shapes. OpenAI's (``POST /fine_tuning/jobs`` ``{model, training_file, hyperparameters}``, ``GET
/fine_tuning/jobs[/{id}]``, a ``fine_tuning.job`` object): OpenAI itself, Zhipu — the same paths and fields in
its SDK (github:MetaGLM/zhipuai-sdk-python-v4 zhipuai/api_resource/fine_tuning/jobs/jobs.py and
zhipuai/types/fine_tuning/fine_tuning_job.py) — and SiliconFlow (unconfirmed: its guide documents console
fine-tuning only). DashScope's native one (``POST /fine-tunes`` ``{model, training_file_ids,
hyper_parameters, training_type}``, ``GET /fine-tunes[/{id}]``, ``{"request_id", "output": {job_id, status,
usage, finetuned_output, …}}``; https://help.aliyun.com/zh/model-studio/developer-reference/model-training-api-reference
and https://help.aliyun.com/en/model-studio/fine-tuning-job-object-api). Status words: OpenAI's are from its
API reference; DashScope shows ``SUCCEEDED`` and ``CANCELED`` in its examples, ``PENDING``/``QUEUING``/``RUNNING``
are unconfirmed; Zhipu's are assumed to be OpenAI's (its SDK types ``status`` as a plain string).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web

from balancer.emulator import replies
from balancer.emulator.uploads import StoredFile, new_id

Shape = Literal["openai", "dashscope"]
_OPENAI_STATES = ("validating_files", "queued", "running", "succeeded")


@dataclass(frozen=True, slots=True)
class FineTuneDialect:
    shape: Shape
    states: tuple[str, ...]  # the statuses a job shows, one more per poll; the last is success
    job_prefix: str
    reject_status: int  # how an upload that is not chat JSONL is refused (hand-written bodies: see _rejected)
    source: str


FINETUNE_DIALECTS: dict[str, FineTuneDialect] = {
    "openai": FineTuneDialect(
        "openai", _OPENAI_STATES, "ftjob-", 400, "https://platform.openai.com/docs/api-reference/fine-tuning"
    ),
    "glm": FineTuneDialect(
        "openai",
        _OPENAI_STATES,
        "ftjob-",
        400,
        "github:MetaGLM/zhipuai-sdk-python-v4 zhipuai/api_resource/fine_tuning/jobs/jobs.py (statuses unconfirmed)",
    ),
    "siliconflow": FineTuneDialect(
        "openai", _OPENAI_STATES, "ftjob-", 400, "unconfirmed: OpenAI's shape assumed for SiliconFlow"
    ),
    "qwen": FineTuneDialect(
        "dashscope",
        ("PENDING", "QUEUING", "RUNNING", "SUCCEEDED"),
        "ft-",
        400,
        "https://help.aliyun.com/en/model-studio/fine-tuning-job-object-api",
    ),
}


@dataclass(slots=True)
class Job:
    id: str
    model: str
    training_file: str
    epochs: int
    tokens: int  # tokens in the training file
    dialect: FineTuneDialect
    polls: int = 0
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def status(self) -> str:
        states = self.dialect.states
        return states[min(self.polls, len(states) - 1)]

    @property
    def done(self) -> bool:
        return self.status == self.dialect.states[-1]

    def as_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "model": self.model,
            "created_at": self.created_at,
            "finished_at": int(time.time()) if self.done else None,
            "fine_tuned_model": f"ft:{self.model}:emu:{self.id}" if self.done else None,
            "status": self.status,
            "trained_tokens": self.tokens * self.epochs if self.done else None,
            "training_file": self.training_file,
            "validation_file": None,
            "hyperparameters": {"n_epochs": self.epochs},
            "result_files": [],
            "error": None,
        }

    def as_dashscope(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job_id": self.id,
            "job_name": self.id,
            "status": self.status,
            "model": self.model,
            "base_model": self.model,
            "training_file_ids": [self.training_file],
            "validation_file_ids": [],
            "hyper_parameters": {"n_epochs": self.epochs},
            "training_type": "sft",
            "create_time": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created_at)),
        }
        if self.done:
            out["finetuned_output"] = f"{self.model}-ft-{self.id}"
            out["usage"] = self.tokens * self.epochs
        return out

    def render(self) -> dict[str, Any]:
        if self.dialect.shape == "dashscope":
            return {"request_id": new_id("req-"), "output": self.as_dashscope()}
        return self.as_openai()


def file_tokens(data: bytes) -> int:
    """Tokens of a chat JSONL file by the emulator's tokenizer (what a job trains on per epoch)."""
    total = 0
    for line in data.splitlines():
        if line.strip():
            total += replies.prompt_tokens(orjson.loads(line).get("messages") or [])
    return total


def rejected(dialect: FineTuneDialect, why: str) -> web.Response:
    """An upload refused for its content: hand-written bodies in each vendor's error envelope."""
    if dialect.shape == "dashscope":
        body: dict[str, Any] = {"request_id": new_id("req-"), "code": "InvalidFile.Content", "message": why}
    else:
        body = {"error": {"message": f"Invalid file format for fine-tuning: {why}", "type": "invalid_request_error"}}
    return web.json_response(body, status=dialect.reject_status)


def not_found(what: str) -> web.Response:
    return web.json_response({"error": {"message": f"No such {what}", "type": "invalid_request_error"}}, status=404)


class FineTuning:
    """Every target's jobs (by target name, then job id)."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Job]] = {}

    def create(
        self, target: str, dialect: FineTuneDialect, body: dict[str, Any], files: dict[str, StoredFile]
    ) -> web.Response:
        if dialect.shape == "dashscope":
            ids = body.get("training_file_ids") or []
            file_id = ids[0] if ids else ""
            epochs = int((body.get("hyper_parameters") or {}).get("n_epochs") or 3)
        else:
            file_id = str(body.get("training_file") or "")
            epochs = int((body.get("hyperparameters") or {}).get("n_epochs") or 3)
        stored = files.get(file_id)
        if stored is None:
            return not_found(f"training file {file_id!r}")
        job = Job(
            new_id(dialect.job_prefix), str(body.get("model") or ""), file_id, epochs, file_tokens(stored.data), dialect
        )
        self.jobs.setdefault(target, {})[job.id] = job
        return web.json_response(job.render())

    def get(self, target: str, job_id: str) -> web.Response:
        job = self.jobs.get(target, {}).get(job_id)
        if job is None:
            return not_found(f"fine-tuning job {job_id!r}")
        job.polls += 1  # one status further per poll
        return web.json_response(job.render())

    def list(self, target: str, dialect: FineTuneDialect) -> web.Response:
        jobs = list(self.jobs.get(target, {}).values())
        if dialect.shape == "dashscope":
            out = {"page_no": 1, "page_size": len(jobs), "total": len(jobs), "jobs": [j.as_dashscope() for j in jobs]}
            return web.json_response({"request_id": new_id("req-"), "output": out})
        return web.json_response({"object": "list", "data": [j.as_openai() for j in jobs], "has_more": False})
