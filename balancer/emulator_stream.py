"""The emulator's streamed replies, in each vendor's stream dialect, with stream faults."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from balancer.emulator import Emulator, Target


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


def _frame(t: Target, chunk: dict[str, Any] | None) -> bytes:
    """One SSE event in the vendor's framing (``None`` is the ``[DONE]`` terminator)."""
    d = t.vendor.dialect
    prefix = b"data: " if d.sse_space else b"data:"
    if chunk is None:
        return prefix + b"[DONE]\n\n"
    chunk = {**chunk, **d.extra_fields}
    if d.render_chunk is not None:
        chunk = d.render_chunk(chunk)
    return prefix + orjson.dumps(chunk) + b"\n\n"


def _events(emu: Emulator, t: Target, body: dict[str, Any], prompt: int, completion: int) -> list[bytes]:
    return [_frame(t, c) for c in _chunks(t, body, prompt, completion)]


def _chunks(t: Target, body: dict[str, Any], prompt: int, completion: int) -> list[dict[str, Any] | None]:
    from balancer.emulator import _message, reply_text

    q = t.vendor.quirks
    model, cid = body.get("model"), "chatcmpl-emu-stream"
    message, finish = _message(t, body, completion)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    opts = body.get("stream_options")
    want_usage = isinstance(opts, dict) and opts.get("include_usage") is True
    out: list[dict[str, Any] | None] = [_chunk(cid, model, {"role": "assistant", "content": ""})]
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        out.append(_chunk(cid, model, {"tool_calls": [{"index": 0, **call}]}))
    else:
        last = (body.get("messages") or [{}])[-1]
        text_pieces = reply_text(t.name, str(last.get("content", "")) if isinstance(last, dict) else "", completion)
        if message["content"] != "".join(text_pieces):  # JSON mode: one piece
            text_pieces = [message["content"]]
        out += [_chunk(cid, model, {"content": piece}) for piece in text_pieces]
    if q.usage_in_choice:
        out.append(_chunk(cid, model, {}, finish, choice_extra={"usage": usage}))
    elif not q.stream_usage_option:
        out.append(_chunk(cid, model, {}, finish, usage=usage))  # usage always rides on the last chunk
    else:
        out.append(_chunk(cid, model, {}, finish))
        if want_usage:
            payload: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": usage,
            }
            out.append(payload)
    if q.sends_done:
        out.append(None)
    return out


async def stream_reply(
    emu: Emulator, t: Target, body: dict[str, Any], tokens: tuple[int, int], kind: str, request: web.Request
) -> web.StreamResponse:
    prompt, completion = tokens
    events = _events(emu, t, body, prompt, completion)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    half = max(1, len(events) // 2)
    for i, ev in enumerate(events):
        if i == half and kind == "truncate_stream":
            assert request.transport is not None
            request.transport.close()  # the connection dies mid-answer
            return resp
        if i == half and kind == "stall_stream":
            await asyncio.sleep(3600)
        if i == half and kind == "stream_error":  # e.g. output moderation inside an open stream (DashScope)
            prefix = b"data: " if t.vendor.dialect.sse_space else b"data:"
            await resp.write(prefix + orjson.dumps(t.vendor.dialect.content_filter[1]) + b"\n\n")
            await resp.write_eof()
            return resp
        if i == half and kind == "malformed":
            await resp.write(b'data: {"choices": [{"delta": \n\n')
            continue
        await resp.write(ev)
        if emu.chunk_delay_ms:
            await asyncio.sleep(emu.chunk_delay_ms / 1000)
    emu._book(t, prompt, completion)
    await resp.write_eof()
    return resp
