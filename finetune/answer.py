"""What a usable teacher answer is: one definition for both ``distill`` paths, and for its checkpoint.

A chat completion — the reply to one request (:mod:`finetune.teacher`), or the body of one ``--batch`` output line
(:mod:`finetune.batchlines`) — holds a usable answer when:

* its JSON nests at most :data:`~finetune.model.MAX_DEPTH` levels deep and it has ``choices``;
* its first choice's ``message`` is a chat message as the output writer reads it (:class:`finetune.model.Message`:
  ``content`` a string, a list of content parts (objects) or null, ``tool_calls`` shaped as OpenAI's), its ``role``
  ``assistant`` (or absent), and it says something: content that is not empty, or ``tool_calls``.

Its ``usage`` is read as token counts from 0 to 2**32 (the gateway's rule: :func:`balancer.replies.unreadable`), as
the price estimate and the progress line read them. Usage that is none (a count below 0, beyond 2**32, of 5000
digits, a string) costs the answer its usage, never the answer: kept, with no usage and ``Answer.usage_unreadable``
saying why (asked again, it would be paid again); the run counts it as of unknown cost and says so.

One that is not raises :class:`Unusable`, saying why: the prompt's failure — reported, never checkpointed, asked
again. An answer cut off (``finish_reason`` length or content_filter) is usable but is no training data: the
callers reject it. A checkpoint line written by an older version is read through :func:`assistant_message` too, so
a bad answer already in it is reported and asked again rather than crashing the output.

:func:`vendor_error` is the vendor's error message in a failed response body, short and with key-shaped tokens
masked (:func:`balancer.secrets.masked`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import UNSET, Struct

from balancer import replies, wire
from balancer.secrets import masked
from finetune.model import Message, depth_problem

CUT_OFF = frozenset({"length", "content_filter"})
ERROR_CHARS = 200  # at most this much of a vendor's error message is shown

_NULL = msgspec.Raw(b"null")  # msgspec.Raw takes no union: a missing field reads as JSON null


@dataclass(frozen=True, slots=True)
class Answer:
    """A usable answer: the teacher's message (null fields left out), its usage, who answered."""

    message: dict[str, Any]
    usage: dict[str, Any]  # empty when none was given, or none readable
    provider: str
    model: str
    usage_unreadable: str | None = None  # why the usage given is no token counts


class Unusable(Exception):
    """Why a chat completion, or a checkpointed message, holds no usable answer."""


class _Choice(Struct, kw_only=True):
    message: dict[str, Any]
    finish_reason: str | None = None


class _Completion(Struct, kw_only=True):
    choices: list[_Choice] = []
    usage: msgspec.Raw = _NULL
    model: str | None = None


class _Error(Struct, kw_only=True):
    code: str | int | None = None
    type: str | None = None
    message: str | None = None


class _Failed(Struct, kw_only=True):
    error: _Error | str | None = None
    message: str | None = None  # DashScope's native shape


_completion, _message = msgspec.json.Decoder(_Completion), msgspec.json.Decoder(Message)
_usage, _usage_dict = msgspec.json.Decoder(replies.Usage), msgspec.json.Decoder(dict[str, Any])
_failed = msgspec.json.Decoder(_Failed)
_NO_COUNTS = "the answer's usage is no token counts"


def from_completion(data: bytes, provider: str = "", model: str = "") -> tuple[Answer, str | None]:
    """The answer a chat completion holds, and its finish reason when it was cut off; :class:`Unusable` when it
    holds none. ``model`` (when given) is who answered; else the completion's own ``model``."""
    deep = depth_problem(data, "the answer")
    if deep is not None:
        raise Unusable(deep)
    body = _decoded(_completion, data, "the answer is not a chat completion")
    if not body.choices:
        raise Unusable("the answer has no choices")
    choice = body.choices[0]
    assistant_message(choice.message)
    message = {k: v for k, v in choice.message.items() if v is not None}
    usage, unreadable = _usage_of(bytes(body.usage))
    answer = Answer(message, usage, provider, model or body.model or "", unreadable)
    return answer, choice.finish_reason if choice.finish_reason in CUT_OFF else None


def _usage_of(raw: bytes) -> tuple[dict[str, Any], str | None]:
    """An answer's usage as given (empty when null), or empty and why it is no token counts by the gateway's own
    rule (:func:`balancer.replies.unreadable`: counts from 0 to 2**32)."""
    if raw.strip() == b"null":
        return {}, None
    try:
        bad = replies.unreadable(wire.untrusted_json(_usage.decode, raw))
        if bad is None:
            return wire.untrusted_json(_usage_dict.decode, raw), None
        reason = f"{bad[0]} {bad[1]}"
    except msgspec.DecodeError as exc:
        reason = str(exc)
    return {}, f"{_NO_COUNTS} ({reason})"


def assistant_message(message: Any) -> Message:
    """The assistant message a teacher's ``message`` object is, as the output writes it (null fields left out);
    :class:`Unusable` saying why when it is none (see the module docstring)."""
    if not isinstance(message, dict):
        raise Unusable("the answer's message is no JSON object")
    kept = {k: v for k, v in message.items() if v is not None}
    role = kept.pop("role", "assistant")
    if role != "assistant":
        shown = msgspec.json.encode(role)[:40].decode("utf-8", "replace")
        raise Unusable(f"the answer's message has the role {shown}, not assistant")
    try:
        encoded = msgspec.json.encode({**kept, "role": "assistant"})
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise Unusable(f"the answer's message is no chat message ({type(exc).__name__})") from None
    decoded: Message = _decoded(_message, encoded, "the answer's message is no chat message")
    if decoded.content in (None, "", []) and not decoded.tool_calls and decoded.function_call is UNSET:
        raise Unusable("the answer's message is empty: no content and no tool_calls")
    return decoded


def _decoded(decoder: msgspec.json.Decoder[Any], data: bytes, what: str) -> Any:
    try:
        return wire.untrusted_json(decoder.decode, data)
    except msgspec.DecodeError as exc:
        raise Unusable(f"{what} ({exc})") from None


def vendor_error(body: bytes) -> str | None:
    """The error a failed response body states (``error.code: error.message``, an ``error`` string, or a top-level
    ``message``), at most :data:`ERROR_CHARS` long with key-shaped tokens masked; None when it states none."""
    if depth_problem(body, "the body") is not None:
        return None
    try:
        failed = wire.untrusted_json(_failed.decode, body)
    except msgspec.DecodeError:
        return None
    err = failed.error
    if isinstance(err, _Error):
        code = err.code if err.code is not None else err.type or ""
        text = f"{code}: {err.message or ''}".strip(": ")
    else:
        text = err or failed.message or ""
    return short(text) or None


def short(text: str) -> str:
    """``text`` with key-shaped tokens masked, cut to :data:`ERROR_CHARS`."""
    text = masked(text)
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"
