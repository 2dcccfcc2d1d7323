"""OpenAI wire shapes, decoded once and only as far as routing needs.

A request body is decoded a single time into ``dict[str, Raw]``: every top-level field stays raw
bytes, and only the few fields the gateway routes on are decoded from their raw slice. The rest is
forwarded byte-for-byte, so unknown or future OpenAI fields are never dropped.
"""

from __future__ import annotations

from typing import Any

import msgspec

from balancer.errors import GatewayError

Body = dict[str, msgspec.Raw]

_body_decoder = msgspec.json.Decoder(Body)
_str = msgspec.json.Decoder(str)
_bool = msgspec.json.Decoder(bool)
_int = msgspec.json.Decoder(int)
_num = msgspec.json.Decoder(float)
_list = msgspec.json.Decoder(list[msgspec.Raw])
_any = msgspec.json.Decoder()
encoder = msgspec.json.Encoder()


class StreamOptions(msgspec.Struct):
    include_usage: bool | msgspec.UnsetType = msgspec.UNSET


_stream_options = msgspec.json.Decoder(StreamOptions)


class RequestView(msgspec.Struct, kw_only=True):
    """The fields routing and shaping look at; everything else stays in the raw body."""

    model: str
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    size_bytes: int = 0


def _field(body: Body, name: str, dec: msgspec.json.Decoder[Any], kind: str) -> Any:
    raw = body.get(name)
    if raw is None:
        return None
    try:
        return dec.decode(raw)
    except msgspec.ValidationError:
        raise GatewayError(400, f"'{name}' must be {kind}.", code="invalid_type", param=name) from None
    except msgspec.DecodeError as e:  # the body's decode skips values: e.g. invalid UTF-8 inside a string
        raise GatewayError(400, f"'{name}' is not valid JSON: {e}.", code="invalid_value", param=name) from None
    except RecursionError:
        raise _too_deep() from None


def _too_deep() -> GatewayError:
    return GatewayError(
        400,
        "The request body nests JSON arrays or objects too deeply (more levels than the gateway decodes, "
        "about 900); flatten the deepest value.",
        code="invalid_json",
    )


def decode_body(data: bytes) -> Body:
    if not data:
        raise GatewayError(400, "The request body is empty; send a JSON object.", code="invalid_json")
    try:
        return _body_decoder.decode(data)
    except msgspec.ValidationError:
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json") from None
    except msgspec.DecodeError as e:
        raise GatewayError(400, f"The request body is not valid JSON: {e}.", code="invalid_json") from None
    except RecursionError:
        raise _too_deep() from None


def _view(body: Body, size: int) -> RequestView:
    model = _field(body, "model", _str, "a string")
    if not model:
        raise GatewayError(400, "You must provide a model parameter.", code="missing_required_parameter", param="model")
    max_tokens = _field(body, "max_completion_tokens", _int, "an integer")
    if max_tokens is None:
        max_tokens = _field(body, "max_tokens", _int, "an integer")
    if max_tokens is not None and max_tokens < 1:
        raise GatewayError(400, "'max_tokens' must be at least 1.", code="invalid_value", param="max_tokens")
    n = _field(body, "n", _int, "an integer")
    if n is not None and n < 1:
        raise GatewayError(400, "'n' must be at least 1.", code="invalid_value", param="n")
    return RequestView(
        model=model,
        stream=bool(_field(body, "stream", _bool, "a boolean")),
        max_tokens=max_tokens,
        n=n or 1,
        temperature=_field(body, "temperature", _num, "a number"),
        top_p=_field(body, "top_p", _num, "a number"),
        size_bytes=size,
    )


def chat_view(body: Body, size: int) -> RequestView:
    view = _view(body, size)
    messages = _field(body, "messages", _list, "an array of messages")
    if not messages:
        raise GatewayError(
            400, "'messages' must be a non-empty array.", code="missing_required_parameter", param="messages"
        )
    raw_opts = body.get("stream_options")
    if raw_opts is not None:
        try:
            opts = _stream_options.decode(raw_opts)
        except msgspec.ValidationError:
            raise GatewayError(
                400, "'stream_options' must be an object.", code="invalid_type", param="stream_options"
            ) from None
        view.include_usage = opts.include_usage is True
    return view


def embeddings_view(body: Body, size: int) -> RequestView:
    view = _view(body, size)
    if "input" not in body:
        raise GatewayError(400, "'input' is required.", code="missing_required_parameter", param="input")
    return view


def encode_body(body: Body) -> bytes:
    return encoder.encode(body)


def raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(encoder.encode(value))


# ---- responses -----------------------------------------------------------------------------------


class PromptTokensDetails(msgspec.Struct, kw_only=True):
    cached_tokens: int = 0


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None  # OpenAI, Qwen, Kimi: cache hits
    prompt_cache_hit_tokens: int = 0  # DeepSeek's name for the same

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details.cached_tokens if self.prompt_tokens_details else 0
        return max(details, self.prompt_cache_hit_tokens)


class ErrorObject(msgspec.Struct, kw_only=True):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None


class BaseResp(msgspec.Struct, kw_only=True):  # MiniMax-style envelope
    status_code: int = 0
    status_msg: str = ""


class CloudApiError(msgspec.Struct, kw_only=True, rename="pascal"):  # Tencent Cloud API envelope
    code: str = ""
    message: str = ""


class CloudApiResponse(msgspec.Struct, kw_only=True, rename="pascal"):
    error: CloudApiError | None = None


class ChoiceView(msgspec.Struct, kw_only=True):
    finish_reason: str | None = None
    usage: Usage | None = None


class ReplyView(msgspec.Struct, kw_only=True):
    """A non-stream reply or one stream chunk, decoded only as far as accounting needs."""

    usage: Usage | None = None
    error: ErrorObject | str | None = None
    choices: list[ChoiceView] | None = None
    data: list[msgspec.Raw] | None = None  # embeddings
    base_resp: BaseResp | None = None
    # Top-level code/message (DashScope native, Baidu v1, Spark HTTP).
    code: str | int | None = None
    message: str | None = None
    error_code: int | None = None
    error_msg: str | None = None
    response: CloudApiResponse | None = msgspec.field(default=None, name="Response")


reply_decoder = msgspec.json.Decoder(ReplyView)


def loads_any(data: bytes) -> Any:
    return _any.decode(data)
