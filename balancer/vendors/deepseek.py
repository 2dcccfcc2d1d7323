"""DeepSeek: OpenAI-compatible; 402 means no balance; a balance API reports granted vs topped-up.

Sources: https://api-docs.deepseek.com/quick_start/error_codes ,
https://api-docs.deepseek.com/zh-cn/api/get-user-balance , pricing page (late 2026; prices are the
off-peak/peak list, kept here at the peak figure and overridable in config).
"""

from __future__ import annotations

import msgspec

from balancer import wire
from balancer.errors import Failure
from balancer.vendors.base import Balance, BalanceProbe, ErrorRule, ModelInfo, Quirks, Vendor

_ERRORS = "https://api-docs.deepseek.com/quick_start/error_codes"


class _Info(msgspec.Struct):
    currency: str
    total_balance: str
    granted_balance: str = "0"
    topped_up_balance: str = "0"


class _BalanceReply(msgspec.Struct):
    is_available: bool
    balance_infos: list[_Info]


_decoder = msgspec.json.Decoder(_BalanceReply)


def parse_balance(body: bytes) -> Balance:
    reply = wire.untrusted_json(_decoder.decode, body)
    # One entry per currency; CNY is the account's home currency on api.deepseek.com.
    info = next((i for i in reply.balance_infos if i.currency == "CNY"), reply.balance_infos[0])
    return Balance(
        total=float(info.total_balance),
        granted=float(info.granted_balance),
        paid=float(info.topped_up_balance),
        currency="USD" if info.currency == "USD" else "CNY",
    )


VENDOR = Vendor(
    name="deepseek",
    title="DeepSeek",
    base_url="https://api.deepseek.com",
    docs=_ERRORS,
    # Text only: an image_url part is a 400 "Failed to deserialize the JSON body into the target type:
    # messages[N]: unknown variant `image_url`, expected `text`" on every model (V4 pro and flash:
    # github:rikkahub/rikkahub#1433; chat and reasoner: github:can1357/oh-my-pi#9169), so vision=False.
    # JSON mode is json_object only: json_schema is a 400 "This response_format type is unavailable now"
    # (https://api-docs.deepseek.com/api/create-chat-completion lists text and json_object; the body as
    # github:llm-exe/llm-exe#662 captured it from deepseek-v4-pro and deepseek-chat), so json_schema=False.
    # Thinking is on by default, ``thinking: {"type": "disabled"}`` turns it off
    # (https://api-docs.deepseek.com/guides/thinking_mode); deepseek-chat is the mode without it unless the request
    # enables it (github:anomalyco/opencode#9397), deepseek-reasoner the mode with it.
    models={
        "deepseek-flash": ModelInfo(1_000_000, 384_000, 2.0, 8.0, 0.04, vision=False, json_schema=False, thinks=True),
        "deepseek-v4-pro": ModelInfo(1_000_000, 384_000, 9.0, 27.0, 0.30, vision=False, json_schema=False, thinks=True),
        # Older names many configs still use.
        "deepseek-chat": ModelInfo(128_000, 8_192, 2.0, 3.0, 0.2, vision=False, json_schema=False),
        "deepseek-reasoner": ModelInfo(128_000, 65_536, 4.0, 16.0, 1.0, vision=False, json_schema=False, thinks=True),
    },
    # The API documents max_tokens alone (https://api-docs.deepseek.com/api/create-chat-completion) and ignores
    # max_completion_tokens: 5 of it gave 76 tokens on deepseek-v4-flash, 5 of max_tokens gave 5
    # (github:earendil-works/pi#8018, against api.deepseek.com).
    # Roles are system, user, assistant and tool: "developer" is a 400 "messages[0].role: unknown variant
    # `developer`, expected one of `system`, `user`, `assistant`, `tool`" (github:BenedictKing/ccx#149 has the body;
    # github:earendil-works/pi#1048), so it is sent as "system", which it means.
    # Thinking, the reasoning_content of every assistant message between two user messages that called a tool must
    # come back in every later request (the guide above; without a tool call it is ignored): without it a 400 "The `reasoning_content` in the thinking mode must be passed back to the API." (V4:
    # github:anomalyco/opencode#25758 has the raw body; github:crewAIInc/crewAI#5878), earlier "Missing
    # `reasoning_content` field in the assistant message at message index N" (github:hotovo/aider-desk#529). A client
    # that keeps content and tool_calls alone, or a history from another vendor, has none: "" is sent, as clients
    # that fixed it send (github:continuedev/continue#11285, github:mnfst/llm-gateway#992).
    quirks=Quirks(max_tokens_only=True, developer_as_system=True, reasoning_on_calls=""),
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, status=402, source=_ERRORS + " (402 Insufficient Balance)"),
        ErrorRule(
            Failure.CONTEXT_LENGTH,
            status=400,
            contains="maximum context length",
            source='unconfirmed: 400 body "This model\'s maximum context length is …" seen in third-party fixtures (research §10)',
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED,
            status=400,
            contains="Content Exists Risk",
            source='unconfirmed: third-party reports of 400 "Content Exists Risk"; not on ' + _ERRORS,
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            status=400,
            contains="Model Not Exist",
            source='unconfirmed: 400 "Model Not Exist" seen in third-party logs; not on ' + _ERRORS,
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            status=400,
            contains="The supported API model names are",
            source="unconfirmed: 400 naming the supported models, seen in a third-party client's comments; not on "
            + _ERRORS,
        ),
        ErrorRule(Failure.RATE_LIMITED, status=429, source=_ERRORS + " (429 Rate Limit Reached)"),
        ErrorRule(Failure.BAD_REQUEST, status=422, source=_ERRORS + " (422 Invalid Parameters)"),
        ErrorRule(Failure.UPSTREAM_ERROR, status=503, source=_ERRORS + " (503 Server Overloaded)"),
    ),
    balance=BalanceProbe(path="/user/balance", parse=parse_balance),
)
