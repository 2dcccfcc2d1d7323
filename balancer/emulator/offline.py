"""The offline side of an emulated vendor: files, batches and fine-tuning jobs, routed by path from the vendor
side of :mod:`balancer.emulator.server` (after its key check). Paths are relative to the target, as the
vendors' own are relative to their base URL: ``/files``, ``/files/{id}``, ``/files/{id}/content``,
``/batches``, ``/batches/{id}``, ``/fine_tuning/jobs[/{id}]`` (OpenAI's shape) and ``/fine-tunes[/{id}]``
(DashScope's). Only vendors with a batch API (``Vendor.batch``) take batches; only those in
:data:`~balancer.emulator.finetuning.FINETUNE_DIALECTS` take fine-tuning jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from balancer.emulator.batches import Batches
from balancer.emulator.finetuning import FINETUNE_DIALECTS, FineTuning, rejected
from balancer.emulator.targets import Target
from balancer.emulator.uploads import StoredFile, chat_lines_problem, new_id, read_multipart

_FIRST = frozenset({"files", "batches", "fine_tuning", "fine-tunes"})


class Offline:
    """Files, batches and jobs of every target; forgotten on ``/_emulator/reset``."""

    def __init__(self, reply_tokens: Callable[[], int]) -> None:
        self.reply_tokens = reply_tokens
        self.files: dict[str, dict[str, StoredFile]] = {}
        self.batches = Batches()
        self.finetuning = FineTuning()

    def reset(self) -> None:
        self.__init__(self.reply_tokens)  # type: ignore[misc]

    @staticmethod
    def _parts(tail: str) -> list[str]:
        """The path from its files/batches/jobs segment on (a prefix such as DashScope's ``api/v1`` is skipped)."""
        parts = tail.strip("/").split("/")
        first = next((i for i, p in enumerate(parts) if p in _FIRST), None)
        return [] if first is None else parts[first:]

    @classmethod
    def claims(cls, tail: str) -> bool:
        """True for a path this module answers (everything else is the chat side)."""
        return bool(cls._parts(tail))

    async def handle(self, t: Target, tail: str, request: web.Request) -> web.StreamResponse:
        parts = self._parts(tail)
        files = self.files.setdefault(t.name, {})
        if parts[0] == "files":
            return await self._files(t, parts[1:], request, files)
        if parts[0] == "batches":
            return await self._batches(t, parts[1:], request, files)
        dialect = FINETUNE_DIALECTS.get(t.vendor.name)
        if dialect is None:
            return _unsupported(t, "fine-tuning")
        jobs_path = parts[2:] if parts[0] == "fine_tuning" else parts[1:]
        if request.method == "POST" and not jobs_path:
            return self.finetuning.create(t.name, dialect, await _json(request), files)
        if request.method == "GET" and not jobs_path:
            return self.finetuning.list(t.name, dialect)
        return self.finetuning.get(t.name, jobs_path[0])

    async def _files(
        self, t: Target, rest: list[str], request: web.Request, files: dict[str, StoredFile]
    ) -> web.StreamResponse:
        if request.method == "GET":
            stored = files.get(rest[0]) if rest else None
            if stored is None:
                return web.json_response({"error": {"message": "No such file"}}, status=404)
            if rest[1:] == ["content"]:
                return web.Response(body=stored.data, content_type="application/octet-stream")
            return web.json_response(stored.as_object())
        fields, parts = await read_multipart(request)
        purpose = fields.get("purpose", "fine-tune")
        native = "files" in parts  # DashScope's native file API: "files" parts, a data.uploaded_files answer
        uploads = parts.get("files") or parts.get("file") or []
        if not uploads:
            return web.json_response({"error": {"message": "no file in the upload"}}, status=400)
        dialect = FINETUNE_DIALECTS.get(t.vendor.name)
        if purpose == "fine-tune" and dialect is not None:
            for up in uploads:
                why = chat_lines_problem(up.data)
                if why is not None:
                    return rejected(dialect, f"{up.name}: {why}")
        prefix = "file-batch-" if purpose == "batch" else "file-ft-"
        saved = [StoredFile(new_id(prefix), up.name, purpose, up.data) for up in uploads]
        for f in saved:
            files[f.id] = f
        if native:
            uploaded = [{"file_id": f.id, "name": f.name} for f in saved]
            data = {"uploaded_files": uploaded, "failed_uploads": []}
            return web.json_response({"request_id": new_id("req-"), "data": data})
        return web.json_response(saved[0].as_object())

    async def _batches(
        self, t: Target, rest: list[str], request: web.Request, files: dict[str, StoredFile]
    ) -> web.StreamResponse:
        if t.vendor.batch is None:
            return _unsupported(t, "batch")
        if request.method == "POST" and not rest:
            return self.batches.create(t.name, await _json(request), files)

        def book(prompt: int, completion: int) -> None:
            t.book(prompt, completion)
            t.stats["batch_lines"] += 1

        return self.batches.poll(t.name, rest[0], files, self.reply_tokens(), book)


async def _json(request: web.Request) -> dict[str, Any]:
    body = orjson.loads(await request.read() or b"{}")
    return body if isinstance(body, dict) else {}


def _unsupported(t: Target, what: str) -> web.Response:
    msg = f"{t.vendor.name}: the emulator has no {what} API for this vendor"
    return web.json_response({"error": {"message": msg, "type": "invalid_request_error"}}, status=404)
