"""Upstream replies as the gateway reads them: a non-stream reply or one stream chunk (:class:`ReplyView`), a line of
a vendor's batch output (:class:`BatchLineView`), each decoded only as far as classification and accounting need.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

# A count of tokens a vendor reports: one below 0 or beyond 2**32 (a 30-digit number, or 5000 digits) is no count but
# a broken reply; read as it is, it was booked at an absurd price (or a refund: -5 prompt tokens), or crashed the
# ledger and the metrics (no float holds it).
Tokens = Annotated[int, msgspec.Meta(ge=0, le=2**32)]


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


class BatchBody(msgspec.Struct, kw_only=True):
    usage: Usage | None = None


class BatchResponse(msgspec.Struct, kw_only=True):
    status_code: int = 0
    body: BatchBody | None = None


class BatchLineView(msgspec.Struct, kw_only=True):
    """A line of a vendor's batch output file, as far as accounting needs (usage counts as in a reply)."""

    response: BatchResponse | None = None


batch_line_decoder = msgspec.json.Decoder(BatchLineView)
