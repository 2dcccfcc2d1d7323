"""Transcript capture: which requests are recorded, and how a reply becomes a transcript record.

Opt-in per route or per client key (``transcripts: true``), sampled, written off the hot path by
:class:`balancer.transcripts.TranscriptWriter` (bounded queue, drop counter). Requests that are not
captured pay one boolean check; a captured stream assembles its deltas as they pass.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import msgspec

from balancer import wire
from balancer.config import TranscriptsConfig
from balancer.jsonwalk import rebuild
from balancer.pii import embedded_json, json_text
from balancer.transcripts import TranscriptRecord, TranscriptWriter, utc_now

_reply = msgspec.json.Decoder(dict[str, Any])


class StreamAssembler:
    """Rebuilds the first choice's assistant message from stream chunks: content, reasoning and tool-call pieces.
    Only choice 0 is assembled (``n`` > 1 streams interleave the choices, told apart by ``index``); a chunk not of
    OpenAI's shape marks the assembly ``broken`` (never raises: the stream goes on, no record is written)."""

    __slots__ = ("broken", "content", "finish_reason", "reasoning", "role", "tool_calls")

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.broken = False

    def feed(self, payload: bytes) -> None:
        if self.broken:
            return
        try:
            chunk = wire.untrusted_json(_reply.decode, payload)
        except msgspec.DecodeError:  # classified already, so read at another stack depth: no faithful record
            self.broken = True
            return
        try:
            for choice in chunk.get("choices") or ():
                if choice.get("index") in (0, None):
                    self._choice(choice)
        except (AttributeError, TypeError, ValueError):  # a chunk of another shape: no faithful record
            self.broken = True

    def _choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        if delta.get("content"):
            self.content.append(_text(delta["content"]))
        if delta.get("reasoning_content"):
            self.reasoning.append(_text(delta["reasoning_content"]))
        for tc in delta.get("tool_calls") or ():
            self._tool_piece(tc)
        if choice.get("finish_reason"):
            self.finish_reason = _text(choice["finish_reason"])

    def _tool_piece(self, tc: dict[str, Any]) -> None:
        index = 0 if tc.get("index") is None else tc["index"]  # some vendors leave it out
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError("a tool call's index is no integer")
        slot = self.tool_calls.setdefault(index, {"type": "function", "function": {}})
        if tc.get("id"):
            slot["id"] = _text(tc["id"])
        fn = tc.get("function") or {}
        if fn.get("name"):
            slot["function"]["name"] = _text(fn["name"])
        if fn.get("arguments"):
            slot["function"]["arguments"] = slot["function"].get("arguments", "") + _text(fn["arguments"])

    def message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": self.role, "content": "".join(self.content) or None}
        if self.reasoning:
            msg["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            msg["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        msg["finish_reason"] = self.finish_reason
        return msg


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def reply_message(body: bytes) -> dict[str, Any] | None:
    """The first choice's message (with its finish_reason) from a non-stream reply."""
    try:
        choice = (wire.untrusted_json(_reply.decode, body).get("choices") or [None])[0]
    except msgspec.DecodeError:
        return None
    if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
        return None
    return {**choice["message"], "finish_reason": choice.get("finish_reason")}


class Capture:
    def __init__(self, cfg: TranscriptsConfig) -> None:
        self.cfg = cfg  # the settings it was made with (a reload with others makes a new one)
        self.writer = TranscriptWriter(
            Path(cfg.directory),
            max_bytes=cfg.max_bytes,
            queue_size=cfg.queue_size,
            sample_rate=cfg.sample_rate,
            scrub_pii=cfg.scrub_pii,
        )

    async def start(self) -> None:
        await self.writer.start()

    async def close(self) -> None:
        await self.writer.close()

    def submit(
        self, *, job: Any, raw_body: bytes, message: dict[str, Any], t0: float, secrets: tuple[str, ...] = ()
    ) -> bool:
        """Queue one record (never blocks, never raises); ``job`` is the served failover.Job. Every
        occurrence of a string in ``secrets`` (keys the gateway knows) becomes ``[REDACTED]``. A stream whose
        assembly broke (:class:`StreamAssembler`) writes none."""
        if job.assembler is not None and job.assembler.broken:
            return False
        try:
            request, message = _redacted(raw_body, message, secrets)
        except Exception as e:  # never let capture break a request (but say the record is lost)
            self.writer.failed(job.request_id, e)
            return False
        c = job.served_by
        u = job.usage
        usage = (
            None
            if u is None
            else {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens,
                "estimated": job.usage_estimated,
            }
        )
        record = TranscriptRecord(
            ts=utc_now(),
            request_id=job.request_id,
            route=job.route.name,
            provider=c.provider_name,
            vendor=c.vendor.name,
            model=c.model,
            request=request,
            response=message,
            usage=usage,
            latency_ms=round((time.perf_counter() - t0) * 1000, 3),
            stream=job.view.stream,
        )
        return self.writer.submit(record)


def _redacted(
    raw_body: bytes, message: dict[str, Any], secrets: tuple[str, ...]
) -> tuple[msgspec.Raw | dict[str, Any], dict[str, Any]]:
    """The request (raw unless it holds a secret) and the message, with every known key replaced."""
    hidden = tuple(s for s in secrets if len(s) >= 8)  # too short to be a key: not worth rewriting text for
    if not hidden:
        return msgspec.Raw(raw_body), message
    request: msgspec.Raw | dict[str, Any] = msgspec.Raw(raw_body)
    if any(_may_hold(raw_body, s) for s in hidden):
        request = _redact(_reply.decode(raw_body), hidden)
    return request, _redact(message, hidden)


def _may_hold(raw: bytes, secret: str) -> bool:
    """Whether JSON bytes may hold ``secret``: verbatim, or with its ``/`` written ``\\/`` (PHP's json_encode),
    at any depth of JSON held in a string."""
    key = secret.encode()
    return key in raw or (b"/" in key and b"\\/" in raw and key in raw.replace(b"\\", b""))


def _redact(obj: Any, hidden: tuple[str, ...]) -> Any:
    """``obj`` with every occurrence of a key in ``hidden`` replaced, at any depth (no recursion)."""

    def leaf(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for s in hidden:
            value = value.replace(s, "[REDACTED]")
        if "\\/" not in value:
            return value
        if (inner := embedded_json(value)) is not None:  # JSON text that may escape a key's /
            clean = _redact(inner, hidden)
            return value if clean == inner else json_text(clean)
        for s in hidden:  # text, or JSON nested too deeply to be read: the key with its / escaped, at any depth
            value = re.sub(r"\\*/".join(map(re.escape, s.split("/"))), "[REDACTED]", value)
        return value

    return rebuild(obj, leaf)
