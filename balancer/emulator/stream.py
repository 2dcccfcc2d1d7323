"""The emulator's streamed replies: OpenAI chunks placed by the vendor's quirks (usage where it puts it,
``[DONE]`` or not), framed in its dialect, and sent with the stream faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from balancer.emulator import replies
from balancer.emulator.dialects.base import Dialect
from balancer.vendors.base import Quirks

Chunk = dict[str, Any] | None  # None is the [DONE] terminator


def _chunk(cid: str, model: Any, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
    choice.update(extra.pop("choice_extra", {}))
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        **extra,
    }


def _prefix(d: Dialect) -> bytes:
    return b"data: " if d.sse_space else b"data:"


def _frame(d: Dialect, chunk: Chunk) -> bytes:
    """One SSE event in the vendor's framing."""
    if chunk is None:
        return _prefix(d) + b"[DONE]\n\n"
    chunk = {**chunk, **d.extra_fields}
    if d.render_chunk is not None:
        chunk = d.render_chunk(chunk)
    return _prefix(d) + orjson.dumps(chunk) + b"\n\n"


def _deltas(target: str, body: dict[str, Any], message: dict[str, Any], completion: int) -> list[dict[str, Any]]:
    """The message as deltas: one tool call, or the text one token a chunk (JSON mode: one piece)."""
    if message.get("tool_calls"):
        return [{"tool_calls": [{"index": 0, **message["tool_calls"][0]}]}]
    last = (body.get("messages") or [{}])[-1]
    pieces = replies.reply_text(target, str(last.get("content", "")) if isinstance(last, dict) else "", completion)
    if message["content"] != "".join(pieces):
        pieces = [message["content"]]
    return [{"content": piece} for piece in pieces]


def chunks(target: str, quirks: Quirks, body: dict[str, Any], prompt: int, completion: int) -> list[Chunk]:
    """The whole stream as OpenAI chunks, usage and the terminator placed as the vendor places them."""
    model, cid = body.get("model"), "chatcmpl-emu-stream"
    message, finish = replies.message(target, body, completion)
    n = replies.choices_asked(body)
    usage = replies.usage(prompt, completion * n)
    opts = body.get("stream_options")
    want_usage = isinstance(opts, dict) and opts.get("include_usage") is True
    out: list[Chunk] = [_chunk(cid, model, {"role": "assistant", "content": ""})]
    deltas = _deltas(target, body, message, completion)
    for i in range(n):  # n choices: each one's deltas, told apart by index
        out += [_chunk(cid, model, delta, choice_extra={"index": i}) for delta in deltas]
    # Choices after the first end here; the first ends below, where the vendor may put usage on it.
    out += [_chunk(cid, model, {}, finish, choice_extra={"index": i}) for i in range(1, n)]
    if quirks.usage_in_choice:
        out.append(_chunk(cid, model, {}, finish, choice_extra={"usage": usage}))
    elif not quirks.stream_usage_option:
        out.append(_chunk(cid, model, {}, finish, usage=usage))  # usage always rides on the last chunk
    else:
        out.append(_chunk(cid, model, {}, finish))
        if want_usage:
            tail = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
            out.append({**tail, "choices": [], "usage": usage})
    if quirks.sends_done:
        out.append(None)
    return out


def events(dialect: Dialect, stream: list[Chunk]) -> list[bytes]:
    return [_frame(dialect, c) for c in stream]


async def send(
    request: web.Request,
    dialect: Dialect,
    frames: list[bytes],
    fault: str,
    delay_ms: float,
    book: Callable[[], None],
) -> web.StreamResponse:
    """Send the frames, ``delay_ms`` apart; a stream fault strikes halfway. ``book`` runs just before a
    stream that reached its end is closed (a cut, stalled or errored one is not booked)."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    half = max(1, len(frames) // 2)
    for i, frame in enumerate(frames):
        if i == half and fault == "truncate_stream":
            assert request.transport is not None
            request.transport.close()  # the connection dies mid-answer
            return resp
        if i == half and fault == "stall_stream":
            await asyncio.sleep(3600)
        if i == half and fault == "stream_error":  # e.g. output moderation inside an open stream (DashScope)
            await resp.write(_prefix(dialect) + orjson.dumps(dialect.content_filter[1]) + b"\n\n")
            await resp.write_eof()
            return resp
        if i == half and fault == "malformed":
            await resp.write(b'data: {"choices": [{"delta": \n\n')
            continue
        await resp.write(frame)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
    book()
    if fault == "linger":  # the whole answer, then the body is held open: its end never comes
        await asyncio.sleep(3600)
    await resp.write_eof()
    return resp


async def replay(
    request: web.Request, status: int, headers: dict[str, str] | None, events: list[str], delay_ms: float
) -> web.StreamResponse:
    """Send raw SSE lines exactly as given (events, comments such as ``: keep-alive``), each followed by a blank
    line, ``delay_ms`` apart: a stream a vendor really sent, replayed."""
    head = CIMultiDict(headers or {})
    head.setdefault("Content-Type", "text/event-stream")
    resp = web.StreamResponse(status=status, headers=head)
    await resp.prepare(request)
    for i, line in enumerate(events):
        if i and delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        await resp.write(line.encode() + b"\n\n")
    await resp.write_eof()
    return resp
