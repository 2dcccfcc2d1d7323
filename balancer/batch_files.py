"""What a batch file holds: the multipart upload read within its time, its JSONL lines checked as requests for one
route, and the usage of each answered line of a vendor's output file (:mod:`balancer.batches` serves the API).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec
import orjson
from aiohttp import web

from balancer import nesting, replies, wire
from balancer.errors import GatewayError

MAX_FILE_BYTES = 200 << 20


async def read_upload(request: web.Request, timeout_s: float) -> tuple[str, str, bytes]:
    """(purpose, file name, file bytes) of a multipart upload, within ``timeout_s`` plus a second per MiB
    (of its Content-Length, or of the largest file when it has none): a 408 when it stops arriving."""
    size = request.content_length
    if (size or 0) > MAX_FILE_BYTES + (1 << 20):
        raise GatewayError(413, f"A batch file may hold at most {MAX_FILE_BYTES >> 20} MiB.",
                           code="request_too_large", param="file")  # fmt: skip
    limit_s = timeout_s + (MAX_FILE_BYTES if size is None else size) / (1 << 20)
    try:
        async with asyncio.timeout(limit_s):
            return await _parts(request)
    except TimeoutError:
        raise GatewayError(408, f"The upload did not arrive within {limit_s:g}s; send the whole body at once.",
                           code="request_timeout") from None  # fmt: skip


async def _parts(request: web.Request) -> tuple[str, str, bytes]:
    purpose, name, data = "", "batch.jsonl", b""
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            value = bytes(await part.read(decode=False))
            if part.name == "purpose":
                purpose = value.decode("utf-8", "replace").strip()
            elif part.name == "file":
                name, data = part.filename or name, value
    except (AssertionError, ValueError, KeyError):
        raise GatewayError(400, "Send the file as multipart/form-data with fields 'file' and 'purpose'.",
                           code="invalid_multipart") from None  # fmt: skip
    if not data:
        raise GatewayError(400, "The upload has no 'file' part, or it is empty.", code="missing_required_parameter",
                           param="file")  # fmt: skip
    if len(data) > MAX_FILE_BYTES:
        raise GatewayError(413, f"A batch file may hold at most {MAX_FILE_BYTES >> 20} MiB.",
                           code="request_too_large", param="file")  # fmt: skip
    return purpose, name, data


def lines(data: bytes) -> list[dict[str, Any]]:
    out = []
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
            if not isinstance(line, dict) or not isinstance(line.get("body"), dict) or "custom_id" not in line:
                raise ValueError
        except (orjson.JSONDecodeError, ValueError):
            raise GatewayError(400, f"Line {number} of the batch file is not a request "
                               '({"custom_id", "method", "url", "body"}).', code="invalid_file",
                               param="file") from None  # fmt: skip
        if nesting.too_deep(raw):  # as the API's bodies are (orjson writes the lines again: 254 levels at most)
            raise nesting.refusal(f"Line {number} of the batch file nests JSON arrays and objects "
                                  f"{nesting.depth(raw)} levels deep", "file")  # fmt: skip
        out.append(line)
    if not out:
        raise GatewayError(400, "The batch file has no requests.", code="invalid_file", param="file")
    seen: set[str] = set()
    for line in out:
        cid = str(line["custom_id"])
        if cid in seen:
            raise GatewayError(400, f"The batch file repeats custom_id {cid[:40]!r}; each line needs its own.",
                               code="invalid_file", param="file")  # fmt: skip
        seen.add(cid)
    return out


def one_route(lines: list[dict[str, Any]]) -> str:
    routes = {str(line["body"].get("model", "")) for line in lines}
    if len(routes) != 1:
        shown = ", ".join(sorted(r[:40] for r in routes)[:5])
        raise GatewayError(400, f"A batch file names one route in body.model; this one names: {shown}.",
                           code="invalid_file", param="file")  # fmt: skip
    return routes.pop()


def usages(data: bytes) -> tuple[list[replies.Usage], list[str]]:
    """The usage of every answered line of a batch output file (the vendor's: a line no decoder reads, or of another
    shape, is skipped), and which count of each line whose usage is no token counts (below 0, beyond 2**32,
    unreadable): that line is skipped too, never booked, like a line without usage (no request size to estimate)."""
    out: list[replies.Usage] = []
    bad: list[str] = []
    for raw in data.splitlines():
        try:
            response = wire.untrusted_json(replies.batch_line_decoder.decode, raw).response
        except msgspec.DecodeError as e:
            where = str(e).partition(" - at `$.")[2].rstrip("`")
            if where.startswith("response.body.usage"):  # a count no decoder reads (5000 digits, a string)
                bad.append(where.removeprefix("response.body.")[:100])
            continue
        body = response.body if response is not None and response.status_code == 200 else None
        if body is not None and body.usage is not None:
            unread = replies.unreadable(body.usage)
            if unread is None:
                out.append(body.usage)
            else:
                bad.append(unread[0])
    return out, bad
