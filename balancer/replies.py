"""Upstream replies as the gateway reads them: a non-stream reply or one stream chunk (:class:`ReplyView`), a line of
a vendor's batch output (:class:`BatchLineView`), each decoded only as far as classification and accounting need.
"""

from __future__ import annotations

import msgspec

from balancer.wire import HOSTILE_JSON

#: The most tokens a count may say; one beyond it, or below 0, is no token count (:func:`unreadable`).
MAX_TOKENS = 2**32

# A count of tokens as a vendor reports it: any integer msgspec decodes (-5, 30 digits), bounded where it is booked
# (:func:`unreadable`): a count out of range costs the reply its usage, never its answer. Booked as it is, it would be
# an absurd price, a refund, or an OverflowError in the ledger and the metrics (no float holds it).
Tokens = int


class PromptTokensDetails(msgspec.Struct, kw_only=True):
    cached_tokens: Tokens = 0


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: Tokens = 0
    completion_tokens: Tokens = 0
    total_tokens: Tokens = 0
    prompt_tokens_details: PromptTokensDetails | None = None  # OpenAI, Qwen, Kimi: cache hits
    prompt_cache_hit_tokens: Tokens = 0  # DeepSeek's name for the same

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details.cached_tokens if self.prompt_tokens_details else 0
        return max(details, self.prompt_cache_hit_tokens)


class UnreadableUsage(Usage, kw_only=True):
    """Usage a reply held that no decoder reads (a count of 5000 digits, a string, null): made by
    :func:`without_usage`, never decoded (no vendor sets its fields). ``count`` is where it failed, ``reason``
    msgspec's why (which never holds the value)."""

    count: str = ""
    reason: str = ""


_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_cache_hit_tokens")
_SHOWN = 10**12  # a count this large (or below minus it) is logged as its number of digits, not its value


def unreadable(usage: Usage) -> tuple[str, str] | None:
    """Which count of ``usage`` is no token count (below 0, beyond :data:`MAX_TOKENS`, or unreadable), and what it
    says (a huge number only as its number of digits); None when every count is one."""
    details = usage.prompt_tokens_details
    if (  # every count a token count (the usual usage, checked without building the list below)
        type(usage) is Usage
        and 0 <= usage.prompt_tokens <= MAX_TOKENS
        and 0 <= usage.completion_tokens <= MAX_TOKENS
        and 0 <= usage.total_tokens <= MAX_TOKENS
        and 0 <= usage.prompt_cache_hit_tokens <= MAX_TOKENS
        and (details is None or 0 <= details.cached_tokens <= MAX_TOKENS)
    ):
        return None
    if isinstance(usage, UnreadableUsage):
        return usage.count, usage.reason
    counts = [(name, getattr(usage, name)) for name in _COUNTS]
    if details is not None:
        counts.append(("prompt_tokens_details.cached_tokens", details.cached_tokens))
    for name, n in counts:
        if not 0 <= n <= MAX_TOKENS:
            shown = str(n) if abs(n) < _SHOWN else f"a {len(str(abs(n)))}-digit number"
            return name, f"{'below 0' if n < 0 else 'beyond 2**32'}: {shown}"
    return None


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


class _Finish(msgspec.Struct, kw_only=True):
    finish_reason: str | None = None


class ChoiceView(_Finish, kw_only=True):
    usage: Usage | None = None


class _Reply(msgspec.Struct, kw_only=True):
    """What a reply or chunk says besides its usage and choices: an error, in every dialect the gateway reads."""

    error: ErrorObject | str | None = None
    data: list[msgspec.Raw] | None = None  # embeddings
    base_resp: BaseResp | None = None
    # Top-level code/message (DashScope native, Baidu v1, Spark HTTP).
    code: str | int | None = None
    message: str | None = None
    error_code: int | None = None
    error_msg: str | None = None
    response: CloudApiResponse | None = msgspec.field(default=None, name="Response")


class ReplyView(_Reply, kw_only=True):
    """A non-stream reply or one stream chunk, decoded only as far as accounting needs."""

    usage: Usage | None = None
    choices: list[ChoiceView] | None = None


class _Unmetered(_Reply, kw_only=True):
    """A reply read without its usage (skipped wherever it is, whatever it holds)."""

    choices: list[_Finish] | None = None


reply_decoder = msgspec.json.Decoder(ReplyView)
_unmetered = msgspec.json.Decoder(_Unmetered)


def without_usage(data: bytes, e: BaseException) -> ReplyView | None:
    """The reply (or chunk) ``data``, whose decode by :data:`reply_decoder` raised ``e``, read again without its
    usage: when that reads, only the usage was unreadable (a count of 5000 digits, a string), and the view's
    ``usage`` is :class:`UnreadableUsage` saying where; None when the rest is unreadable too (no JSON, nested too
    deep, a field of the wrong type). Only a reply that failed its decode pays for this one."""
    if not isinstance(e, msgspec.ValidationError):  # no JSON, or too deep: no second decode reads it
        return None
    try:
        view = _unmetered.decode(data)
    except HOSTILE_JSON:
        return None
    reason, _, where = str(e).partition(" - at `")
    usage = UnreadableUsage(count=where.rstrip("`").removeprefix("$.")[:100], reason=reason[:100])
    choices = None if view.choices is None else [ChoiceView(finish_reason=c.finish_reason) for c in view.choices]
    fields = {f: getattr(view, f) for f in _Reply.__struct_fields__}
    return ReplyView(**fields, usage=usage, choices=choices)


class BatchBody(msgspec.Struct, kw_only=True):
    usage: Usage | None = None


class BatchResponse(msgspec.Struct, kw_only=True):
    status_code: int = 0
    body: BatchBody | None = None


class BatchLineView(msgspec.Struct, kw_only=True):
    """A line of a vendor's batch output file, as far as accounting needs (usage counts as in a reply: any integer,
    bounded where it is booked)."""

    response: BatchResponse | None = None


batch_line_decoder = msgspec.json.Decoder(BatchLineView)
