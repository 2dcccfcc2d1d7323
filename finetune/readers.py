"""Source formats: OpenAI fine-tuning lines, gateway transcripts, chat-completion request/response pairs.

A reader turns one line (bytes) into a canonical :class:`~finetune.model.Conversation` or raises:
``msgspec.DecodeError`` (not JSON), ``msgspec.ValidationError`` (wrong shape, with a JSON path) or
:class:`InputError` (a rule of the source format). Target formats bring their own readers
(``finetune.targets``), so any written file converts back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

from balancer.wire import untrusted_json
from finetune.io import BOM, UnreadableInput, numbered_lines, open_input, open_seekable
from finetune.model import (
    Content,
    Conversation,
    FunctionCall,
    Message,
    ToolCall,
    depth_problem,
    normalise_preference,
)

Reader = Callable[[bytes], Conversation]

#: Finish reasons whose answer is cut off or withheld; such transcripts make bad training data.
TRUNCATED = frozenset({"length", "content_filter"})


class InputError(ValueError):
    """A line that parses but breaks a rule of its source format."""

    def __init__(self, rule: str, reason: str, path: str = "") -> None:
        super().__init__(reason)
        self.rule = rule
        self.path = path


class Request(Struct, frozen=True, kw_only=True):
    """The part of a chat-completion request body that becomes the prompt."""

    messages: list[Message] = []
    tools: list[dict[str, Any]] | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET
    functions: list[dict[str, Any]] | UnsetType = UNSET  # deprecated: read as tools by the legacy transform


class Reply(Struct, frozen=True, kw_only=True):
    """An assistant reply as logged: the message plus its finish reason."""

    role: str = "assistant"
    content: Content = None
    tool_calls: list[ToolCall] | UnsetType = UNSET
    function_call: FunctionCall | UnsetType = UNSET  # deprecated: a tool call once the legacy transform ran
    reasoning_content: str | UnsetType = UNSET
    refusal: str | UnsetType | None = UNSET
    finish_reason: str | None = None


class Choice(Struct, frozen=True, kw_only=True):
    message: Reply
    finish_reason: str | None = None


class Completion(Struct, frozen=True, kw_only=True):
    choices: list[Choice] = []
    model: str = ""


class Transcript(Struct, frozen=True, kw_only=True):
    """The reading side of a gateway transcript record (see TRANSCRIPTS.md)."""

    v: int
    request: Request
    response: Reply
    provider: str = ""
    vendor: str = ""
    model: str = ""


class Pair(Struct, frozen=True, kw_only=True):
    request: Request
    response: msgspec.Raw


_NULL = msgspec.Raw(b"null")


class BatchResponse(Struct, frozen=True, kw_only=True):
    body: msgspec.Raw = _NULL
    status_code: int = 200


class BatchOutput(Struct, frozen=True, kw_only=True):
    custom_id: str
    response: BatchResponse | None = None
    error: Any = None


class BatchInput(Struct, frozen=True, kw_only=True):
    custom_id: str = ""
    body: Request


_conversation = msgspec.json.Decoder(Conversation)
_transcript = msgspec.json.Decoder(Transcript)
_pair = msgspec.json.Decoder(Pair)
_completion = msgspec.json.Decoder(Completion)
_reply = msgspec.json.Decoder(Reply)
_batch_out = msgspec.json.Decoder(BatchOutput)
_batch_in = msgspec.json.Decoder(BatchInput)


def read_openai(line: bytes) -> Conversation:
    """An OpenAI fine-tuning line (SFT or preference); see also :func:`legacy_functions_to_tools`."""
    conv = _conversation.decode(line)
    return conv if conv.input is UNSET else normalise_preference(conv)


def legacy_functions_to_tools(conv: Conversation) -> Conversation:
    """Deprecated ``functions``/``function_call``/``role: function`` as tools, tool calls and tool results."""
    msgs: list[Message] = []
    last_id = ""
    for i, m in enumerate(conv.messages):
        if m.function_call is not UNSET:
            last_id = f"call_fn_{i}"
            call = ToolCall(id=last_id, function=m.function_call)
            msgs.append(msgspec.structs.replace(m, function_call=UNSET, tool_calls=[call]))
        elif m.role == "function":
            msgs.append(msgspec.structs.replace(m, role="tool", name=UNSET, tool_call_id=last_id))
        else:
            msgs.append(m)
    tools = conv.tools
    if conv.functions is not UNSET:
        tools = [*(tools or []), *({"type": "function", "function": f} for f in conv.functions)]
    return msgspec.structs.replace(conv, messages=msgs, tools=tools, functions=UNSET)


def read_transcript(line: bytes) -> Conversation:
    """A gateway transcript record: request messages plus the logged reply, with provenance."""
    rec = _transcript.decode(line)
    conv = joined(rec.request, rec.response, rec.response.finish_reason)
    return msgspec.structs.replace(conv, provider=rec.provider, vendor=rec.vendor, model=rec.model)


def read_pair(line: bytes) -> Conversation:
    """``{"request": {...}, "response": {...}}`` where response is a chat.completion or a message."""
    pair = _pair.decode(line)
    reply, finish = reply_of(pair.response)
    return joined(pair.request, reply, finish)


def reply_of(raw: msgspec.Raw) -> tuple[Reply, str | None]:
    """The assistant reply and finish reason of a logged response body."""
    if b'"choices"' in bytes(raw):
        completion = _completion.decode(raw)
        if not completion.choices:
            raise InputError("input.no_choices", "the response has no choices", "$.response.choices")
        first = completion.choices[0]
        return first.message, first.finish_reason or first.message.finish_reason
    reply = _reply.decode(raw)
    return reply, reply.finish_reason


def joined(request: Request, reply: Reply, finish: str | None) -> Conversation:
    """The request's messages followed by the reply as the final assistant turn."""
    if finish in TRUNCATED:
        raise InputError("input.finish_reason", f"the reply ended with finish_reason={finish!r}")
    answer = Message(
        role="assistant",
        content=reply.content,
        tool_calls=reply.tool_calls,
        function_call=reply.function_call,
        reasoning_content=reply.reasoning_content,
        refusal=reply.refusal,
    )
    return Conversation(
        messages=[*request.messages, answer],
        tools=request.tools,
        parallel_tool_calls=request.parallel_tool_calls,
        functions=request.functions,
    )


class BatchReader:
    """OpenAI batch output lines, joined by ``custom_id`` with the batch input file's requests.

    The request file is indexed once (custom_id -> byte offset, a few dozen bytes per request); each
    request is read back with a seek when its output line arrives. A request line that cannot be joined (no
    JSON, nested too deeply, not a batch request, no ``custom_id`` or one an earlier line has) stops the command
    before anything is written: :class:`~finetune.io.UnreadableInput` naming the file, the line and what is wrong.
    """

    def __init__(self, requests: Path | None) -> None:
        self._offsets: dict[str, int] = {}
        self._file = open_seekable(requests) if requests is not None else None
        if self._file is not None and requests is not None:
            try:
                self._index(self._file, requests)
            except BaseException:
                self._file.close()
                raise

    def _index(self, stream: Any, path: Path) -> None:
        offset, lines = 0, dict[str, int]()
        for number, raw in enumerate(stream, 1):
            start, offset = offset, offset + len(raw)
            line = raw
            if number == 1 and raw.startswith(BOM):  # Windows Notepad's byte order mark
                line, start = raw[len(BOM) :], start + len(BOM)
            if not line.strip():
                continue
            custom_id, why = _request_id(line)
            if custom_id in lines:
                why = f"custom_id {custom_id!r} is also on line {lines[custom_id]}; each request needs its own"
            if why:
                raise UnreadableInput(f"--requests {path}:{number}: {why}")
            self._offsets[custom_id] = start
            lines[custom_id] = number

    def close(self) -> None:
        """Close the request file."""
        if self._file is not None:
            self._file.close()

    def __call__(self, line: bytes) -> Conversation:
        out = _batch_out.decode(line)
        if out.error is not None or out.response is None or bytes(out.response.body) == b"null":
            raise InputError("input.batch_error", f"request {out.custom_id!r} failed in the batch")
        if out.response.status_code != 200:
            raise InputError("input.batch_error", f"status {out.response.status_code}", "$.response")
        offset = self._offsets.get(out.custom_id)
        if self._file is None or offset is None:
            raise InputError("input.missing_request", f"no request for {out.custom_id!r} (use --requests)")
        self._file.seek(offset)
        request = _batch_in.decode(self._file.readline()).body
        reply, finish = reply_of(out.response.body)
        return joined(request, reply, finish)


def _request_id(line: bytes) -> tuple[str, str]:
    """The ``custom_id`` of a batch request line, and why the line cannot be joined ("" when it can)."""
    deep = depth_problem(line, "the line")
    if deep is not None:
        return "", deep
    try:
        custom_id = untrusted_json(_batch_in.decode, line).custom_id
    except msgspec.ValidationError as exc:
        return "", f"not a batch request line ({exc})"
    except msgspec.DecodeError as exc:
        return "", f"not JSON ({exc})"
    return custom_id, "" if custom_id else "the request has no custom_id, so no output line can name it"


class Guarded:
    """A reader that reads hostile lines as invalid ones: a line nesting deeper than
    :data:`~finetune.model.MAX_DEPTH` is refused before any decoder sees it (``input.depth``, naming its depth), and
    what a decoder raises on JSON held in a string (a target's reader decodes tool calls and results) or on a
    number no type holds is an :class:`InputError` too. Every command reads through one (:func:`guarded`), so such
    a line is reported by number and the rest converted, never a traceback."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def __call__(self, line: bytes) -> Conversation:
        deep = depth_problem(line, "the line")
        if deep is not None:
            raise InputError("input.depth", deep)
        try:
            return self.reader(line)
        except RecursionError:
            reason = "the line holds JSON text (in a string) nested too deeply to read"
            raise InputError("input.depth", reason) from None
        except OverflowError as exc:
            raise InputError("input.json", f"the line holds a number no type holds ({exc})") from None

    def close(self) -> None:
        close_reader(self.reader)


def guarded(reader: Reader) -> Guarded:
    """``reader`` behind the checks of :class:`Guarded` (once: a guarded reader is returned as it is)."""
    return reader if isinstance(reader, Guarded) else Guarded(reader)


def close_reader(reader: Reader) -> None:
    """Release what a reader holds open (the batch reader's request file)."""
    close = getattr(reader, "close", None)
    if close is not None:
        close()


def detect(path: Path) -> str:
    """Guess the source format from the first non-blank line's keys (``--from`` overrides)."""
    with open_input(path) as stream:
        first = next((line for _, line in numbered_lines(stream)), b"")
    try:
        obj = untrusted_json(msgspec.json.decode, first)
    except msgspec.DecodeError:  # the line is reported when read
        return "openai"
    if isinstance(obj, list):
        return "qianfan-pr"
    return _detect_keys(set(obj) if isinstance(obj, dict) else set())


_SIGNATURES: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"v", "request", "response"}), "transcript"),
    (frozenset({"custom_id", "response"}), "batch"),
    (frozenset({"request", "response"}), "pair"),
    (frozenset({"bot_setting"}), "minimax"),
    (frozenset({"messages", "chosen", "rejected"}), "bailian"),
    (frozenset({"messages", "rejected_response"}), "swift"),
    (frozenset({"conversations"}), "sharegpt"),
    (frozenset({"instruction"}), "alpaca"),
)


def _detect_keys(keys: set[str]) -> str:
    for signature, name in _SIGNATURES:
        if signature <= keys:
            return name
    return "openai"
