"""Reading the output file of a ``distill --batch`` batch: each line, what it answers and how.

An output line is a vendor's words, relayed by the gateway as they came; any may be broken. What each kind means:

* a good line (``status_code`` 200, a chat completion holding a usable answer: :mod:`finetune.answer`) is the
  answer to the prompt its ``custom_id`` names — kept, or rejected as training data when it was cut off
  (``finish_reason`` length or content_filter);
* a line that names its request (``custom_id`` readable) but is no answer — the batch's own error, another
  status (with the error message its body states), or a completion that is no usable answer
  (:mod:`finetune.answer`, the one definition both ``distill`` paths apply: no JSON object where the completion,
  the message or the usage should be, an empty message, a role other than assistant, a count below 0) — is that
  prompt's failure, reported with its output line number and the reason. Like every failure it stays out of
  the checkpoint, so a rerun asks it again (in a new batch; this one is marked done);
* a line that names no request (no JSON, nested deeper than :data:`~finetune.model.MAX_DEPTH`, no
  ``custom_id``) is reported by its line number; the prompt it answered is then one the batch has no answer
  for, reported as such and asked again by a rerun;
* a ``custom_id`` on several lines is answered once: by its first good line, else its first rejected one, else
  its first failure.

Reading never raises: a broken line is an :class:`Outcome` with a reason, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import msgspec
from msgspec import Struct

from balancer import wire
from finetune.answer import Answer, Unusable, from_completion, short, vendor_error
from finetune.model import depth_problem

_NULL = msgspec.Raw(b"null")  # msgspec.Raw takes no union: a missing field reads as JSON null


class _Response(Struct, kw_only=True):
    status_code: int = 0
    body: msgspec.Raw = _NULL


class _Line(Struct, kw_only=True):
    custom_id: str
    response: _Response | None = None
    error: msgspec.Raw = _NULL


class _Id(Struct):
    custom_id: str


class _Error(Struct, kw_only=True):
    code: str | int | None = None
    message: str | None = None


_line, _id, _error = msgspec.json.Decoder(_Line), msgspec.json.Decoder(_Id), msgspec.json.Decoder(_Error | str)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One output line: its number, the ``custom_id`` it names (None when unreadable), and the answer — or the
    reason it is none. An answer with a reason is one to reject (cut off)."""

    line: int
    key: str | None
    answer: Answer | None = None
    reason: str = ""

    @property
    def rank(self) -> int:
        """2 an answer to keep, 1 one to reject, 0 a failure: the best of a custom_id's lines settles it."""
        return 0 if self.answer is None else 1 if self.reason else 2


def read_output(output: bytes) -> Iterator[Outcome]:
    """Every non-blank line of a batch output file, as an :class:`Outcome` (see the module docstring)."""
    for number, raw in enumerate(output.splitlines(), 1):
        if raw.strip():
            yield _outcome(number, raw)


def _outcome(number: int, raw: bytes) -> Outcome:
    deep = depth_problem(raw, "the line")
    if deep is not None:
        return Outcome(number, None, reason=deep)
    try:
        line = wire.untrusted_json(_line.decode, raw)
    except msgspec.ValidationError as exc:
        key = _readable_id(raw)
        return Outcome(number, key, reason=f"not a batch output line ({exc})")
    except msgspec.DecodeError as exc:
        return Outcome(number, None, reason=f"not JSON ({exc})")
    try:
        answer, cut = _answer(line)
    except Unusable as exc:
        return Outcome(number, line.custom_id, reason=str(exc))
    return Outcome(number, line.custom_id, answer, f"finish_reason={cut}" if cut else "")


def _readable_id(raw: bytes) -> str | None:
    try:
        return wire.untrusted_json(_id.decode, raw).custom_id
    except msgspec.DecodeError:
        return None


def _answer(line: _Line) -> tuple[Answer, str | None]:
    """The answer a line holds and its finish reason when cut off; :class:`Unusable` when it holds none."""
    response = line.response
    if _given(line.error) or response is None or response.status_code != 200 or not _given(response.body):
        raise Unusable(f"failed in the batch: {_error_text(line)}")
    return from_completion(bytes(response.body))


def _given(raw: msgspec.Raw) -> bool:
    """Whether a field holds a value (not missing, not null)."""
    return bytes(raw).strip() != b"null"


def _error_text(line: _Line) -> str:
    """The batch's error for a line (its code and message), else the line's status and the error its response
    body states (:func:`~finetune.answer.vendor_error`): short, key-shaped tokens masked."""
    if _given(line.error):
        try:
            err = wire.untrusted_json(_error.decode, line.error)
        except msgspec.DecodeError:
            return short(bytes(line.error).decode("utf-8", "replace"))
        if isinstance(err, str):
            return short(err)
        code = "" if err.code is None else err.code
        return short(f"{code}: {err.message or ''}".strip(": ")) or "an error without a message"
    response = line.response
    if response is None:
        return "no response"
    said = vendor_error(bytes(response.body)) if _given(response.body) else None
    return f"status {response.status_code}" + (f": {said}" if said else "")
