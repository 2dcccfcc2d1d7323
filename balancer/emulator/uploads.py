"""The emulator's files: what a client uploads (multipart, as each vendor takes it) and what a batch writes,
kept in memory per target by :mod:`balancer.emulator.offline`.

Uploads come in two shapes: OpenAI's ``file`` + ``purpose`` (OpenAI, Zhipu, SiliconFlow, DashScope's
compatible mode) answered with a file object, and DashScope's native ``files`` (several allowed) +
``purpose`` answered ``{"request_id", "data": {"uploaded_files": [...], "failed_uploads": [...]}}``
(https://help.aliyun.com/zh/model-studio/model-customization-file-management-service). A fine-tune upload
whose lines are not JSON objects with a non-empty ``messages`` list is refused the way the vendor's dialect
says (:mod:`balancer.emulator.finetuning`), so a client shows the vendor's message.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import BodyPartReader, web

_ids = itertools.count(1)


@dataclass(slots=True)
class StoredFile:
    id: str
    name: str
    purpose: str
    data: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def as_object(self) -> dict[str, Any]:
        """OpenAI's file object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.name,
            "purpose": self.purpose,
            "status": "processed",
        }


def new_id(prefix: str) -> str:
    return f"{prefix}{int(time.time())}-{next(_ids):05d}"


@dataclass(slots=True)
class Upload:
    """One uploaded part of a multipart body."""

    name: str
    data: bytes


async def read_multipart(request: web.Request) -> tuple[dict[str, str], dict[str, list[Upload]]]:
    """The form fields and the file parts (by field name) of a multipart upload."""
    fields: dict[str, str] = {}
    parts: dict[str, list[Upload]] = {}
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read(decode=False)
        if part.filename is not None:
            parts.setdefault(part.name, []).append(Upload(part.filename, bytes(data)))
        else:
            fields[part.name] = bytes(data).decode("utf-8", "replace")
    return fields, parts


def chat_lines_problem(data: bytes) -> str | None:
    """Why a fine-tuning file is not chat JSONL (each line an object with a non-empty ``messages``), or None."""
    lines = [line for line in data.splitlines() if line.strip()]
    if not lines:
        return "the file is empty"
    for number, line in enumerate(lines, 1):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return f"line {number} is not valid JSON"
        if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list) or not obj["messages"]:
            return f"line {number} has no messages"
    return None


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)
