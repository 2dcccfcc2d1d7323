"""A small vendor batch API (``/files``, ``/batches``, ``/batches/{id}``, ``/files/{id}/content``) whose output file
each test writes: every uploaded request line is answered by :attr:`BatchVendor.answer` — good output lines, or
lines no vendor should send. A batch is ``completed`` as soon as it is created."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from tests.conftest import start_site

#: (index of the request line in the upload, the request line) -> the output file's bytes for it.
Answer = Callable[[int, dict[str, Any]], bytes]

USAGE = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


def completion(line: dict[str, Any], content: str = "好", usage: Any = None) -> dict[str, Any]:
    """The chat completion a vendor answers request ``line`` with."""
    message = {"role": "assistant", "content": content}
    return {"id": "r", "object": "chat.completion", "model": line["body"]["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": USAGE if usage is None else usage}  # fmt: skip


def output_line(line: dict[str, Any], body: Any, status: int = 200) -> bytes:
    """One output line answering request ``line`` with ``body``."""
    row = {"id": "o", "custom_id": line["custom_id"], "response": {"status_code": status, "body": body}, "error": None}
    return json.dumps(row, ensure_ascii=False).encode() + b"\n"


def good(i: int, line: dict[str, Any]) -> bytes:
    """A good output line: the answer ``答 <i>``."""
    return output_line(line, completion(line, f"答 {i}"))


class BatchVendor:
    """The vendor: what was uploaded, and how each request line is answered."""

    def __init__(self) -> None:
        self.answer: Answer = good
        self.uploads: list[list[dict[str, Any]]] = []

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        part = form["file"]
        data = part.file.read() if isinstance(part, web.FileField) else str(part).encode()
        self.uploads.append([json.loads(x) for x in data.splitlines() if x.strip()])
        return web.json_response({"id": f"file-in-{len(self.uploads)}", "object": "file", "purpose": "batch"})

    async def _batch(self, request: web.Request) -> web.Response:
        n = len(self.uploads)
        return web.json_response({"id": f"b{n}", "object": "batch", "status": "completed",
                                  "output_file_id": f"file-out-{n}", "request_counts": {"completed": n}})  # fmt: skip

    async def _content(self, request: web.Request) -> web.Response:
        lines = self.uploads[int(request.match_info["file_id"].removeprefix("file-out-")) - 1]
        return web.Response(body=b"".join(self.answer(i, line) for i, line in enumerate(lines)))

    async def serve(self) -> AsyncIterator[str]:
        """Run on a free port; yields the base URL."""
        app = web.Application(client_max_size=1 << 22)
        app.router.add_post("/files", self._upload)
        app.router.add_post("/batches", self._batch)
        app.router.add_get("/batches/{batch_id}", self._batch)
        app.router.add_get("/files/{file_id}/content", self._content)
        runner, url = await start_site(app, shutdown_timeout=0.1)
        yield url
        await runner.cleanup()
