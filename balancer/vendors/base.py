"""What a vendor is: data (URL, auth, catalogue, quirks, error rules, balance probe) plus optional hooks
for the odd ones. Shared code never tests a vendor's name. How the emulator plays a vendor is not here:
see ``balancer.emulator.dialects``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from balancer.errors import Failure

Currency = Literal["CNY", "USD"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model in a vendor's catalogue. Prices are list prices per million tokens."""

    context_window: int
    max_output: int | None = None
    input_price: float = 0.0
    output_price: float = 0.0
    cached_input_price: float | None = None
    currency: Currency = "CNY"
    kind: Literal["chat", "embeddings"] = "chat"
    tools: bool = True
    json_mode: bool = True
    json_schema: bool | None = None  # structured output (response_format json_schema); None: not known
    # The sampling temperature this model accepts, where it differs from the vendor's (``Quirks.temperature``).
    temperature: tuple[float, float] | None = None
    vision: bool | None = None  # True: takes images; False: text parts only; None: not known (the vendor judges)
    thinks: bool = False  # thinks unless the request says ``thinking: {"type": "disabled"}`` ("enabled" turns it on)
    price_known: bool = True  # False: no list price found (the 0.0 above means "unknown", not free)


@dataclass(frozen=True, slots=True)
class Quirks:
    """How a vendor's "OpenAI-compatible" endpoint differs from OpenAI's. Defaults are plain OpenAI."""

    # Accepts stream_options.include_usage; the gateway adds it to every stream for the ledger.
    stream_usage_option: bool = True
    # Final stream chunk carries usage inside choices[0].usage instead of at top level (Moonshot).
    usage_in_choice: bool = False
    # Ends streams with "data: [DONE]"; when False a finish_reason ends the stream cleanly.
    sends_done: bool = True
    # Inclusive accepted ranges; out-of-range client values are clamped and the change logged.
    temperature: tuple[float, float] | None = None
    top_p: tuple[float, float] | None = None
    # Largest n the vendor accepts; a request asking for more skips this candidate.
    max_n: int | None = None
    # OpenAI fields the vendor refuses; dropped from the request and the drop logged.
    unsupported: tuple[str, ...] = ()
    # Knows max_tokens but not max_completion_tokens, which it ignores (the client's limit would be lost):
    # the gateway sends the limit as max_tokens and logs the rename.
    max_tokens_only: bool = False
    # The tool_choice values it accepts ("function": a named tool); another skips the candidate. None: any.
    tool_choice: tuple[str, ...] | None = None
    # Needs user (or tool) and assistant turns to alternate, from a user turn to a user or tool one; other
    # histories skip the candidate.
    alternating_turns: bool = False
    # Refuses the role "developer" (OpenAI's newer name for system instructions): sent as "system", logged.
    developer_as_system: bool = False
    # Takes one system message, first: the system messages a request starts with are merged into one (logged);
    # a system message after another role's skips the candidate.
    one_system_first: bool = False
    # Refuses an assistant message that says nothing (``turns.says_nothing``): beside tool calls its empty content is
    # left out, and one without tool calls is left out of the messages (logged).
    no_empty_assistant: bool = False
    # A model thinking (``ModelInfo.thinks``, or the request's ``thinking``) refuses a turn that called a tool without
    # the reasoning_content its assistant messages came with, which a client or another vendor's history drops: this
    # text is sent as the reasoning_content of those that have none (null; "" too when the text is not empty),
    # logged. None: any.
    reasoning_on_calls: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """Maps a vendor error to a failure class. Every given field must match; ``None`` matches all.

    ``code``/``type`` compare exactly with the body's error code/type; ``contains`` is a substring of
    the message (Chinese messages included, never normalised). ``source`` says where the fact comes from:
    a URL or an SDK path (``github:owner/repo path``); a fact not confirmed by the vendor starts with
    ``unconfirmed:`` and says what it rests on (such a rule can be overridden per provider, see
    :meth:`Vendor.configured`).
    """

    failure: Failure
    status: int | None = None
    code: str | None = None
    type: str | None = None
    contains: str | None = None
    # When the vendor's quota resets on a calendar boundary: "day_cn" = midnight Beijing time (UTC+8).
    resets: Literal["day_cn"] | None = None
    # The request field an ``unsupported`` refusal is about ("tools"): remembered for that field's value
    # (:mod:`balancer.refusals`), so the candidate is not asked again with it.
    about: str | None = None
    source: str = field(kw_only=True)

    @property
    def confirmed(self) -> bool:
        return not self.source.startswith(UNCONFIRMED)


UNCONFIRMED = "unconfirmed:"
# Provider ``extra`` keys that add an error rule in front of the vendor's: ``error.<field>.<value>: <class>``.
_OVERRIDE_FIELDS = ("status", "code", "type", "contains")


@dataclass(frozen=True, slots=True)
class Balance:
    """A vendor's reported balance, granted (free) and paid money kept apart where it says."""

    total: float
    granted: float | None = None
    paid: float | None = None
    currency: Currency = "CNY"


@dataclass(frozen=True, slots=True)
class BalanceProbe:
    path: str  # relative to the account's base URL, or absolute when it starts with http
    parse: Callable[[bytes], Balance]


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def api_key_header(api_key: str) -> dict[str, str]:
    return {"api-key": api_key}


@dataclass(frozen=True, slots=True)
class BatchApi:
    """A vendor's OpenAI-style batch API, reachable with the inference key: upload a JSONL file
    (``purpose=batch``) to ``files_path``, create the batch at ``batches_path`` naming ``endpoint`` (also
    each line's ``url``), poll it, download ``output_file_id``. Paths are relative to the account's base
    URL. ``price_factor`` is what a batch token costs against the list price (0.5: half price).
    ``source`` cites the docs; a fact not confirmed starts with ``unconfirmed:``."""

    endpoint: str
    price_factor: float
    source: str
    files_path: str = "/files"
    batches_path: str = "/batches"


UrlHook = Callable[[str, Literal["chat", "embeddings"], str, Mapping[str, str]], str]
# (api key, request body, provider extra, now) -> auth headers; replaces ``auth`` when set.
SignHook = Callable[[str, bytes, Mapping[str, str], float], dict[str, str]]
BytesMap = Callable[[bytes], bytes]


@dataclass(frozen=True, slots=True)
class Vendor:
    name: str
    title: str
    base_url: str
    models: Mapping[str, ModelInfo]
    auth: Callable[[str], dict[str, str]] = bearer
    auth_scheme: str = "Authorization: Bearer <key>"
    chat_path: str = "/chat/completions"
    embeddings_path: str = "/embeddings"
    quirks: Quirks = Quirks()
    errors: tuple[ErrorRule, ...] = ()
    balance: BalanceProbe | None = None
    batch: BatchApi | None = None  # the vendor's batch API, if it has one reachable with the key
    docs: str = ""
    # Optional hooks, None for plain OpenAI-compatible vendors (the hot path then skips them):
    # build the request URL (Azure: deployment path and api-version);
    url: UrlHook | None = None
    # sign a request (Tiangong md5, GLM JWT, Hunyuan native TC3);
    sign: SignHook | None = None
    # map an OpenAI request body / the vendor's reply / one stream chunk for non-OpenAI shapes.
    map_request: BytesMap | None = None
    # the request fields ``map_request`` carries to the vendor; any other is dropped, and the drop is listed in
    # the request's adjustments (request_done's "adjusted") like a quirk's ("dropped max_tokens")
    native_fields: tuple[str, ...] = ()
    map_reply: BytesMap | None = None
    map_chunk: BytesMap | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def configured(self, extra: Mapping[str, str]) -> Vendor:
        """This vendor with quirks a provider's ``extra`` overrides (for facts that could not be
        confirmed): ``temperature``/``top_p`` as "lo,hi", ``max_n``, ``unsupported`` as "a,b",
        ``stream_usage_option`` as true/false, and error rules put in front of the vendor's as
        ``error.<status|code|type|contains>.<value>: <failure class>``. ValueError on a malformed value."""
        vendor = self._with_error_overrides(extra)
        q: dict[str, Any] = {}
        for name in ("temperature", "top_p"):
            if name in extra:
                lo, hi = (float(x) for x in extra[name].split(","))
                q[name] = (lo, hi)
        if "max_n" in extra:
            q["max_n"] = int(extra["max_n"])
        if "unsupported" in extra:
            q["unsupported"] = tuple(x.strip() for x in extra["unsupported"].split(",") if x.strip())
        if "stream_usage_option" in extra:
            q["stream_usage_option"] = {"true": True, "false": False}[extra["stream_usage_option"].lower()]
        return replace(vendor, quirks=replace(vendor.quirks, **q)) if q else vendor

    def _with_error_overrides(self, extra: Mapping[str, str]) -> Vendor:
        rules: list[ErrorRule] = []
        for key, value in extra.items():
            if not key.startswith("error."):
                continue
            what, _, match = key.removeprefix("error.").partition(".")
            if what not in _OVERRIDE_FIELDS or not match:
                raise ValueError(f"{key}: expected error.<{'|'.join(_OVERRIDE_FIELDS)}>.<value>")
            arg: dict[str, Any] = {what: int(match) if what == "status" else match}
            rules.append(ErrorRule(Failure(value), **arg, source=f"provider extra {key}"))
        return replace(self, errors=(*rules, *self.errors)) if rules else self

    def headers(self, api_key: str, body: bytes, extra: Mapping[str, str], now: float) -> dict[str, str]:
        """Auth headers for one request: signed when the vendor signs, else the static scheme."""
        if self.sign is not None:
            return self.sign(api_key, body, extra, now)
        return self.auth(api_key)

    def request_url(
        self, base_url: str | None, kind: Literal["chat", "embeddings"], model: str, extra: Mapping[str, str]
    ) -> str:
        base = (base_url or self.base_url).rstrip("/")
        if self.url is not None:
            return self.url(base, kind, model, extra)
        return base + (self.chat_path if kind == "chat" else self.embeddings_path)
