"""Batches as OpenAI's batch API shows them, which DashScope's compatible mode
(https://help.aliyun.com/zh/dashscope/developer-reference/openai-batch-interface) and Zhipu
(https://docs.bigmodel.cn/api-reference/批处理-api/创建批处理任务) copy: ``POST /batches {input_file_id,
endpoint, completion_window}`` → a ``batch`` object whose status moves one step per poll (validating →
in_progress → finalizing → completed, the statuses both vendors list); at completion every line of the input
file is answered like a chat request (the same deterministic reply and usage), its tokens counted in the
target's stats (``batch_lines`` counts the lines) and the results written to an output file of
``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`` lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from balancer.emulator import replies
from balancer.emulator.uploads import StoredFile, jsonl, new_id

STATES = ("validating", "in_progress", "finalizing", "completed")

# (prompt tokens, completion tokens) booked on the target for one answered line.
Book = Callable[[int, int], None]


@dataclass(slots=True)
class Batch:
    id: str
    input_file_id: str
    endpoint: str
    lines: int
    polls: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def status(self) -> str:
        return STATES[min(self.polls, len(STATES) - 1)]

    def render(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "completed_at": int(time.time()) if self.status == "completed" else None,
            "request_counts": {"total": self.lines, "completed": self.completed, "failed": self.failed},
            "metadata": None,
        }


def answer_lines(target: str, data: bytes, reply_tokens: int, book: Book) -> tuple[list[dict[str, Any]], int]:
    """Each input line answered: the output rows, and how many lines failed (not JSON or no body)."""
    rows: list[dict[str, Any]] = []
    failed = 0
    for n, line in enumerate(data.splitlines()):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
            body = item["body"]
            messages = body["messages"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            failed += 1
            continue
        prompt = replies.prompt_tokens(messages)
        completion = min(reply_tokens, int(body.get("max_tokens") or 1 << 30))
        book(prompt, completion * replies.choices_asked(body))
        reply = replies.completion(target, body, prompt, completion)
        response = {"status_code": 200, "request_id": new_id("req-"), "body": reply}
        rows.append({"id": f"batch_req_{n}", "custom_id": item.get("custom_id"), "response": response, "error": None})
    return rows, failed


class Batches:
    """Every target's batches (by target name, then batch id)."""

    def __init__(self) -> None:
        self.batches: dict[str, dict[str, Batch]] = {}

    def create(self, target: str, body: dict[str, Any], files: dict[str, StoredFile]) -> web.Response:
        file_id = str(body.get("input_file_id") or "")
        stored = files.get(file_id)
        if stored is None or stored.purpose != "batch":
            msg = f"No batch input file {file_id!r} (upload it with purpose=batch)"
            return web.json_response({"error": {"message": msg, "type": "invalid_request_error"}}, status=400)
        lines = sum(1 for line in stored.data.splitlines() if line.strip())
        batch = Batch(new_id("batch_"), file_id, str(body.get("endpoint") or ""), lines)
        self.batches.setdefault(target, {})[batch.id] = batch
        return web.json_response(batch.render())

    def poll(
        self, target: str, batch_id: str, files: dict[str, StoredFile], reply_tokens: int, book: Book
    ) -> web.Response:
        """The batch, one step further; the step to ``completed`` answers every line (once)."""
        batch = self.batches.get(target, {}).get(batch_id)
        if batch is None:
            return web.json_response({"error": {"message": f"No batch {batch_id!r}"}}, status=404)
        batch.polls += 1
        if batch.status == "completed" and batch.output_file_id is None:
            rows, batch.failed = answer_lines(target, files[batch.input_file_id].data, reply_tokens, book)
            batch.completed = len(rows)
            out = StoredFile(new_id("file-batch-out-"), f"{batch.id}_output.jsonl", "batch_output", jsonl(rows))
            files[out.id] = out
            batch.output_file_id = out.id
        return web.json_response(batch.render())
