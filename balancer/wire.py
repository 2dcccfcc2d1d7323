"""OpenAI wire shapes, decoded once and only as far as routing needs.

A request body is decoded a single time into ``dict[str, Raw]``: every top-level field stays raw
bytes, and only the few fields the gateway routes on are decoded from their raw slice. The rest is
forwarded byte-for-byte, so unknown or future OpenAI fields are never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import msgspec

from balancer import bodytext, nesting, turns
from balancer.errors import GatewayError

Body = dict[str, msgspec.Raw]

_body_decoder = msgspec.json.Decoder(Body)
# Optional fields: JSON null is the same as absent (OpenAI's nullable parameters).
_str = msgspec.json.Decoder(str | None)
_bool = msgspec.json.Decoder(bool | None)
_int = msgspec.json.Decoder(int | None)
_num = msgspec.json.Decoder(float | None)
_list = msgspec.json.Decoder(list[msgspec.Raw] | None)
_any = msgspec.json.Decoder()
encoder = msgspec.json.Encoder()

ROLES = ("system", "user", "assistant", "tool", "developer", "function")
MAX_N = 128  # OpenAI's bound on n


class StreamOptions(msgspec.Struct):
    include_usage: bool | msgspec.UnsetType = msgspec.UNSET


class _Message(msgspec.Struct):
    """A chat message decoded only as far as routing needs: its role, and its content as a raw slice (an
    array of parts is read for their types alone, text is never decoded)."""

    role: Literal["system", "user", "assistant", "tool", "developer", "function"]
    content: msgspec.Raw = msgspec.Raw()  # empty when absent
    tool_calls: msgspec.Raw = msgspec.Raw()
    reasoning_content: msgspec.Raw = msgspec.Raw()  # what a thinking model thought before (DeepSeek's, Kimi's name)


class _ResponseFormat(msgspec.Struct):
    type: str


class _Thinking(msgspec.Struct):
    type: Any = None  # DeepSeek's and Kimi's switch: "enabled" or "disabled"


class _ToolChoice(msgspec.Struct):
    type: str = ""  # "function" for a named tool


_stream_options = msgspec.json.Decoder(StreamOptions | None)
_response_format = msgspec.json.Decoder(_ResponseFormat | None)
_tool_choice = msgspec.json.Decoder(str | _ToolChoice | None)
_messages = msgspec.json.Decoder(list[_Message] | None)
_thinking = msgspec.json.Decoder(_Thinking | None)


class RequestView(msgspec.Struct, kw_only=True):
    """The fields routing and shaping look at; everything else stays in the raw body."""

    model: str
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    tools: bool = False  # the request offers tools (a non-empty 'tools' array)
    tool_choice: str = ""  # "auto", "none", "required", or an object's type ("function": a named tool); "": absent
    json_mode: bool = False  # response_format asks for JSON (json_object or json_schema)
    json_schema: bool = False  # ... and to a schema (json_schema: structured output)
    media: str = ""  # the first content part that is not text ("image_url", "input_audio", "file"...); "": none
    developer: bool = False  # a message has the role "developer" (OpenAI's newer name for system instructions)
    alternating: bool = True  # user (or tool) and assistant turns alternate, from a user turn to a user or tool one
    systems: int = 0  # system (or developer) messages before the first other one
    empty_assistant: bool = False  # an assistant message with no text (tool calls aside: "" or empty parts beside them)
    system_later: bool = False  # a system (or developer) message after another role's
    unreasoned: bool = False  # an assistant message of a turn that called a tool, without reasoning_content (or "")
    thinking: str = ""  # the request's thinking.type ("enabled", "disabled"); "": not said, or not a string
    base64: bool = False  # embeddings asked as encoding_format "base64"
    size_bytes: int = 0


def _field(
    body: Body,
    name: str,
    dec: msgspec.json.Decoder[Any],
    kind: str,
    invalid: Callable[[str], GatewayError] | None = None,
) -> Any:
    """A field decoded from its raw slice; a 400 naming it when it is not ``kind`` (``invalid`` words the
    refusal from msgspec's reason instead)."""
    raw = body.get(name)
    if raw is None:
        return None
    try:
        return dec.decode(raw)
    except msgspec.ValidationError as e:
        if invalid is not None:
            raise invalid(str(e)) from None
        if str(e).startswith("Number out of range"):
            raise GatewayError(
                400, f"Invalid '{name}': the number is out of range.", code="invalid_value", param=name
            ) from None
        raise GatewayError(400, f"'{name}' must be {kind}.", code="invalid_type", param=name) from None
    except msgspec.DecodeError as e:  # the body's decode skips values: e.g. invalid UTF-8 inside a string
        raise GatewayError(400, f"'{name}' is not valid JSON: {e}.", code="invalid_value", param=name) from None
    except RecursionError:  # unreachable past decode_body's check of the body's depth; kept for other callers
        raise nesting.refusal() from None


def _bounded(body: Body, name: str, integer: bool, lo: float, hi: float = math.inf) -> Any:
    """An optional number within [lo, hi], refused as OpenAI does (its codes and message form)."""
    value = _field(body, name, _int if integer else _num, "an integer" if integer else "a number")
    if value is None or lo <= value <= hi:
        return value
    above = value > hi
    kind = "integer" if integer else "decimal"
    raise GatewayError(
        400,
        f"Invalid '{name}': {kind} {'above maximum' if above else 'below minimum'} value. "
        f"Expected a value {f'<= {hi:g}' if above else f'>= {lo:g}'}, but got {value:g} instead.",
        code=f"{kind}_{'above_max' if above else 'below_min'}_value",
        param=name,
    )


def decode_body(data: bytes) -> Body:
    """The body's one decode: a JSON object whose text is all valid Unicode and nests at most
    :data:`balancer.nesting.MAX_DEPTH` levels, else a 400 saying what and where. msgspec checks every escape (a lone
    surrogate is refused) but not the UTF-8 of the strings it skips: a body that is not ASCII is checked as UTF-8
    once (a valid ASCII body pays only the byte test). Its depth is checked here, once, for everything after."""
    if not data:
        raise GatewayError(400, "The request body is empty; send a JSON object.", code="invalid_json")
    try:
        body = _body_decoder.decode(data)
    except msgspec.ValidationError:
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json") from None
    except msgspec.DecodeError as e:
        text = bodytext.refusal(data, not _utf8(data))
        hint = bodytext.not_json_hint(data, str(e))
        raise text or GatewayError(
            400, f"The request body is not valid JSON: {e}{hint}.", code="invalid_json"
        ) from None
    except RecursionError:  # deeper than msgspec goes (about 950 levels): far deeper than the limit
        raise nesting.refusal() from None
    if not _utf8(data):
        raise bodytext.refusal(data, True) or bodytext.not_utf8(data)
    nesting.check(data, body)
    return body


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# The optional numbers OpenAI bounds: (integer, lowest, highest). Only those present in a body are decoded.
_BOUNDS: dict[str, tuple[bool, float, float]] = {
    "max_completion_tokens": (True, 1, math.inf),
    "max_tokens": (True, 1, math.inf),
    "n": (True, 1, MAX_N),
    "temperature": (False, 0.0, 2.0),
    "top_p": (False, 0.0, 1.0),
    "presence_penalty": (False, -2.0, 2.0),
    "frequency_penalty": (False, -2.0, 2.0),
}


def _view(body: Body, size: int) -> RequestView:
    model = _field(body, "model", _str, "a string")
    if not model:
        raise GatewayError(400, "You must provide a model parameter.", code="missing_required_parameter", param="model")
    numbers: dict[str, Any] = {}
    for name in body:  # a handful of fields: cheaper than looking up every bounded one
        bounds = _BOUNDS.get(name)
        if bounds is not None:
            numbers[name] = _bounded(body, name, *bounds)
    max_tokens = numbers.get("max_completion_tokens")
    return RequestView(
        model=model,
        stream=bool(_field(body, "stream", _bool, "a boolean")),
        max_tokens=numbers.get("max_tokens") if max_tokens is None else max_tokens,
        n=numbers.get("n") or 1,
        temperature=numbers.get("temperature"),
        top_p=numbers.get("top_p"),
        size_bytes=size,
    )


def _check_messages(body: Body) -> list[_Message]:
    """'messages': a non-empty array of objects, each with a valid role (the rest of each message is skipped)."""
    messages: list[_Message] | None = _field(body, "messages", _messages, "an array of messages", _message_error)
    if not messages:
        raise GatewayError(
            400, "'messages' must be a non-empty array.", code="missing_required_parameter", param="messages"
        )
    return messages


def _message_error(error: str) -> GatewayError:
    """msgspec's reason for a bad 'messages' (e.g. "Expected `object`, got `int` - at `$[1]`"), said with the
    parameter path OpenAI uses (``messages[1]``, ``messages[0].role``)."""
    reason, _, path = error.partition(" - at `")
    param = "messages" + path.rstrip("`")[1:]
    if reason.startswith("Invalid enum value"):
        supported = ", ".join(f"'{r}'" for r in ROLES)
        return GatewayError(
            400, f"Invalid value for '{param}'. Supported values are: {supported}.", code="invalid_value", param=param
        )
    if reason.startswith("Object missing required field"):
        param += ".role"
        return GatewayError(
            400, f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
        )
    got = reason.replace("`", "").replace(" | null", "").replace("Expected", "expected", 1)
    return GatewayError(400, f"Invalid type for '{param}': {got}.", code="invalid_type", param=param)


def chat_view(body: Body, size: int) -> RequestView:
    view = _view(body, size)
    messages = _check_messages(body)
    view.media = next((t for m in messages if (t := turns.media(m.content))), "")
    view.developer = any(m.role == "developer" for m in messages)
    roles: list[str] = [m.role for m in messages]
    view.alternating = turns.alternating(roles)
    view.systems = turns.leading_systems(roles)
    rest = roles[view.systems :]
    view.system_later = "system" in rest or "developer" in rest
    view.empty_assistant = any(m.role == "assistant" and turns.says_nothing(m.content, m.tool_calls) for m in messages)
    calls = [m.role == "assistant" and turns.has_calls(m.tool_calls) for m in messages]
    if any(calls):  # a history without tool calls (most requests) needs no turn reading
        tool_turns = turns.in_tool_turns(roles, calls)
        view.unreasoned = any(turns.unreasoned(messages[i].reasoning_content) for i in tool_turns)
    view.thinking = _thinking_of(body)
    opts = _field(body, "stream_options", _stream_options, "an object")
    if opts is not None:
        view.include_usage = opts.include_usage is True
    tools = _field(body, "tools", _list, "an array of tools")
    view.tools = bool(tools)
    choice = _field(body, "tool_choice", _tool_choice, "a string or an object")
    view.tool_choice = choice if isinstance(choice, str) else choice.type if choice is not None else ""
    fmt = _field(body, "response_format", _response_format, "an object")
    view.json_mode = fmt is not None and fmt.type in ("json_object", "json_schema")
    view.json_schema = fmt is not None and fmt.type == "json_schema"
    return view


def _thinking_of(body: Body) -> str:
    """The request's ``thinking.type`` when a string; "" otherwise (not an OpenAI field: a shape the gateway does not
    know is forwarded for the vendor to judge, never refused here)."""
    raw = body.get("thinking")
    try:
        value = _thinking.decode(raw) if raw is not None else None
    except msgspec.ValidationError:
        return ""
    return value.type if value is not None and isinstance(value.type, str) else ""


def embeddings_view(body: Body, size: int) -> RequestView:
    view = _view(body, size)
    raw_input = body.get("input")
    first = bytes(memoryview(raw_input)[:1]) if raw_input is not None else b"n"
    if first == b"n":  # absent or null
        raise GatewayError(400, "'input' is required.", code="missing_required_parameter", param="input")
    if first not in (b'"', b"["):
        raise GatewayError(
            400, "'input' must be a string or an array (of strings or token ids).", code="invalid_type", param="input"
        )
    if not _embeddable(_field(body, "input", _any, "a string or an array")):  # 1e400 in it: a 400 too
        raise GatewayError(
            400,
            "'input' must be a non-empty string, a non-empty array of at most 2048 non-empty strings, or of token "
            "ids (non-negative integers), or of non-empty arrays of token ids; not empty, null or mixed.",
            code="invalid_value",
            param="input",
        )
    encoding = _field(body, "encoding_format", _str, "a string")
    if encoding not in (None, "float", "base64"):
        raise GatewayError(
            400,
            f"Invalid value for 'encoding_format': '{str(encoding)[:40]}'. Supported values are: 'float' and 'base64'.",
            code="invalid_value",
            param="encoding_format",
        )
    view.base64 = encoding == "base64"
    return view


MAX_EMBEDDING_INPUTS = 2048  # OpenAI's limit on the items of one embeddings request


def _token(x: Any) -> bool:
    return type(x) is int and x >= 0


def _embeddable(value: Any) -> bool:
    """An embeddings input OpenAI accepts: a non-empty string, or a non-empty array (at most 2048 items) of
    non-empty strings, of token ids, or of non-empty arrays of token ids."""
    if isinstance(value, str):
        return value != ""
    if not value or len(value) > MAX_EMBEDDING_INPUTS:
        return False
    if all(isinstance(v, str) and v for v in value) or all(_token(v) for v in value):
        return True
    return all(isinstance(v, list) and v and all(_token(t) for t in v) for v in value)


def encode_body(body: Body) -> bytes:
    return encoder.encode(body)


def raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(encoder.encode(value))


_T = TypeVar("_T")
#: What a JSON decoder raises on hostile bytes: msgspec's DecodeError (a ValueError, as orjson's errors, UnicodeError
#: and int's digit limit are), RecursionError for nesting deeper than the stack allows (msgspec: about 950 levels,
#: fewer the deeper the caller), OverflowError for what no type holds. Per-chunk code catches these inline.
HOSTILE_JSON = (ValueError, RecursionError, OverflowError)


def hostile_reason(e: BaseException) -> str:
    """Why a decoder refused bytes (one of :data:`HOSTILE_JSON`): msgspec's reason, which names no value, only where."""
    if isinstance(e, msgspec.DecodeError):
        return str(e)
    if isinstance(e, RecursionError):
        return "JSON nested deeper than the gateway decodes"
    return f"JSON the gateway cannot decode ({type(e).__name__})"


def untrusted_json(decode: Callable[[bytes], _T], data: bytes) -> _T:
    """``decode(data)`` for bytes from outside (an upstream's reply, stream chunk or batch file; a user's file):
    whatever a decoder raises on hostile bytes (:data:`HOSTILE_JSON`) is one :class:`msgspec.DecodeError`, saying
    why, so every caller handles one exception (a reply nested 5000 levels deep is a malformed reply, not the
    gateway's crash)."""
    try:
        return decode(data)
    except msgspec.DecodeError:
        raise
    except HOSTILE_JSON as e:
        raise msgspec.DecodeError(hostile_reason(e)) from None


def loads_any(data: bytes) -> Any:
    """Any JSON an upstream sent; msgspec.DecodeError when it is none (:func:`untrusted_json`)."""
    return untrusted_json(_any.decode, data)
