"""What a vendor's wire looks like from the vendor's side, as the emulator speaks it: its error bodies
per fault, its stream framing, its balance body, and how it checks a signed request. Production facts
(auth scheme, quirks, balance path) stay with the vendor in ``balancer.vendors``.

Where a vendor documents an error body (its docs, its SDK, or its error table's code and message in its
documented envelope), the dialect sends that body and says where it comes from; the rest are hand-written
and say so. The emulator is shipped code, so the bodies are copied here, not read from the test fixtures
(``tests/balancer/vendors/fixtures``) that hold the same bodies with their sources. The defaults below are
OpenAI's shapes (the ``Error`` schema of OpenAI's OpenAPI spec).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ErrorReply = tuple[int, Mapping[str, Any]]  # (HTTP status, JSON body)
JsonMap = Callable[[dict[str, Any]], dict[str, Any]]
# (request headers, the target's key or None for "any key", body, now) -> the signature is valid.
AuthCheck = Callable[[Mapping[str, str], str | None, bytes, float], bool]
# (granted, paid) -> the balance endpoint's body.
BalanceRender = Callable[[float, float], Mapping[str, Any]]

# Faults answered with the dialect's error body of the same name.
ERROR_FAULTS = (
    "auth",
    "rate_limit",
    "balance_exhausted",
    "bad_request",
    "server_error",
    "content_filter",
    "context_length",
    "model_unavailable",
)


@dataclass(frozen=True, slots=True)
class Unreasoned:
    """A thinking model's answer to reasoning_content left out where a tool was called."""

    reply: ErrorReply  # "{index}" in its message is the index of the message it names
    empty_counts: bool  # "" is refused as well as absent or null
    whole_turn: bool  # every assistant message between two user messages that called a tool needs it, not the call's


@dataclass(frozen=True, slots=True)
class Dialect:
    """Error bodies (fault -> (status, body)) and stream framing: pure data plus optional renderers for
    vendors that are not OpenAI-shaped."""

    auth: ErrorReply
    rate_limit: ErrorReply
    balance_exhausted: ErrorReply
    bad_request: ErrorReply = (
        400,
        {
            "error": {
                "message": "Invalid parameter: messages",
                "type": "invalid_request_error",
                "code": "invalid_parameter",
            }
        },
    )
    server_error: ErrorReply = (
        500,
        {"error": {"message": "Internal server error", "type": "server_error", "code": "internal_error"}},
    )
    content_filter: ErrorReply = (
        400,
        {"error": {"message": "content filtered", "type": "invalid_request_error", "code": "content_filter"}},
    )
    context_length: ErrorReply = (
        400,
        {
            "error": {
                "message": "This model's maximum context length was exceeded",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            }
        },
    )
    # The model is not there for this account (missing, offline, not activated): OpenAI's 404.
    model_unavailable: ErrorReply = (
        404,
        {
            "error": {
                "message": "The model `emu-missing` does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            }
        },
    )
    # An image part sent to a model the catalogue marks text-only (``ModelInfo.vision`` False). OpenAI's answer
    # to an image for a text model, as quoted in github:vllm-project/vllm#11629 (its param names the part).
    text_only: ErrorReply = (
        400,
        {
            "error": {
                "message": "Invalid content type. image_url is only supported by certain models.",
                "type": "invalid_request_error",
                "param": "messages.[0].content.[1].type",
                "code": None,
            }
        },
    )
    # response_format json_schema to a model the catalogue marks without it (``ModelInfo.json_schema`` False).
    # Hand-written in OpenAI's envelope; None: answered, the schema ignored (GLM).
    no_json_schema: ErrorReply | None = (
        400,
        {
            "error": {
                "message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
                "type": "invalid_request_error",
                "param": "response_format",
                "code": None,
            }
        },
    )
    # The answer to turns that do not alternate user (or tool) / assistant from a user turn to a user or tool one,
    # for a vendor that needs them to (None: any order).
    not_alternating: ErrorReply | None = None
    # The answer to a message with the role "developer", for a vendor that does not know it (None: known).
    no_developer_role: ErrorReply | None = None
    # For a vendor that takes one system message, first: its answers to several system messages, and to one after
    # another role's (None: any).
    one_system_first: tuple[ErrorReply, ErrorReply] | None = None
    # For a vendor that refuses an assistant message saying nothing: its answers to one without tool calls ("{position}"
    # in the message is the message's index) and to empty text beside tool calls (None: any).
    empty_assistant: tuple[ErrorReply, ErrorReply] | None = None
    # For a vendor whose thinking models need reasoning_content back where a tool was called (thinking: the request's
    # ``thinking.type``, else the catalogue's ``ModelInfo.thinks``; None: any).
    unreasoned: Unreasoned | None = None
    # For a vendor checking tool schemas against its own subset of JSON Schema: its answers to parameters whose root
    # is not typed "object" (``replies.untyped_root``) and to a node below breaking a rule (``replies.schema_break``,
    # "{details}" in the message saying where and why). None: any schema.
    tool_schema: tuple[ErrorReply, ErrorReply] | None = None
    # The tool_choice values the vendor accepts ("function": a named tool) and its answer to another; None: any.
    tool_choice: tuple[tuple[str, ...], ErrorReply] | None = None
    # Models that take one temperature alone: model -> (that temperature, the answer to another).
    temperature_only: Mapping[str, tuple[float, ErrorReply]] = field(default_factory=dict)
    # Limits the reply by max_tokens alone, ignoring max_completion_tokens (DeepSeek).
    ignores_max_completion_tokens: bool = False
    # Rate-limit replies carry ``retry-after-ms`` beside ``Retry-After`` (Azure).
    retry_after_ms: bool = False
    # ``data: {...}`` (True) or ``data:{...}`` (Spark).
    sse_space: bool = True
    # Fields the vendor adds to every reply and stream chunk (Spark: code, message, sid).
    extra_fields: Mapping[str, Any] = field(default_factory=dict)
    # The vendor's request -> OpenAI fields, and OpenAI reply/chunk -> the vendor's own shape (Tiangong,
    # Hunyuan native); None for OpenAI-shaped vendors.
    parse_request: JsonMap | None = None
    render_reply: JsonMap | None = None
    render_chunk: JsonMap | None = None
    # Signing vendors: verify the signature headers. None: compare the vendor's static auth headers.
    check_auth: AuthCheck | None = None
    # The body of the vendor's balance endpoint (its path is the vendor's ``balance.path``).
    balance: BalanceRender | None = None

    def error(self, fault: str) -> ErrorReply:
        """The (status, body) answered for an error fault (one of ``ERROR_FAULTS``)."""
        if fault not in ERROR_FAULTS:
            raise ValueError(f"{fault!r} is not an error fault")
        reply: ErrorReply = getattr(self, fault)
        return reply
