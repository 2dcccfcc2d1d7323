"""Moonshot Kimi: usage arrives inside choices[0].usage in streams; balance API with vouchers.

Sources: https://platform.kimi.com/docs/api/errors , https://platform.moonshot.cn/docs/api/balance ,
https://www.kimi.com/help/kimi-api/api-troubleshooting (which says 403 for insufficient balance while
the error page says 429 exceeded_current_quota_error: both are mapped).
"""

from __future__ import annotations

import msgspec

from balancer import wire
from balancer.errors import Failure
from balancer.vendors.base import Balance, BalanceProbe, ErrorRule, ModelInfo, Quirks, Vendor

_ERRORS = "https://platform.kimi.com/docs/api/errors"
_HELP = "https://www.kimi.com/help/kimi-api/api-troubleshooting"


class _Data(msgspec.Struct):
    available_balance: float
    voucher_balance: float = 0.0
    cash_balance: float = 0.0


class _Reply(msgspec.Struct):
    data: _Data


_decoder = msgspec.json.Decoder(_Reply)


def parse_balance(body: bytes) -> Balance:
    d = wire.untrusted_json(_decoder.decode, body).data
    # cash_balance can be negative (debt); available = cash + voucher.
    return Balance(total=d.available_balance, granted=d.voucher_balance, paid=d.cash_balance)


VENDOR = Vendor(
    name="kimi",
    title="Moonshot Kimi",
    base_url="https://api.moonshot.cn/v1",
    docs=_ERRORS,
    # Images: the K2 line from k2.5 on takes them (k2.6: https://help.aliyun.com/en/model-studio/kimi-api-by-moonshot-ai;
    # k3: github:aaif-goose/goose#11814); moonshot-v1's vision models are the separate -vision-preview ids
    # (https://platform.kimi.ai/docs/guide/use-kimi-vision-model), so the plain ones take text only.
    # K2.6 and K3 think by default and then take temperature 1 alone: any other is a 400 "invalid temperature: only 1
    # is allowed for this model" (k2.6 0 and 0.6 refused, 1 served: github:kodustech/kodus-ai#1120 against
    # api.moonshot.ai; k3: github:XCNXNXNX/dsh-portable-tavern#1). With thinking turned off it is 0.6 alone.
    models={
        "kimi-k2.6": ModelInfo(262_144, 32_768, 4.0, 16.0, 1.0, temperature=(1.0, 1.0), vision=True, thinks=True),
        "kimi-k3": ModelInfo(262_144, 32_768, 6.0, 24.0, 1.5, temperature=(1.0, 1.0), vision=True, thinks=True),
        "moonshot-v1-8k": ModelInfo(8_192, 4_096, 2.0, 10.0, vision=False),
        "moonshot-v1-32k": ModelInfo(32_768, 4_096, 5.0, 20.0, vision=False),
        "moonshot-v1-128k": ModelInfo(131_072, 4_096, 10.0, 30.0, vision=False),
    },
    # n must be 1 when temperature is near 0 (https://platform.kimi.ai/docs/api/models-overview): not a fixed cap,
    # so no max_n is declared; set extra max_n per provider if needed.
    # The role "developer" is refused ("unsupported role ROLE_UNSPECIFIED", github:openclaw/openclaw#21911, kimi-k2.5;
    # no body quoted): sent as "system".
    # tool_choice "required" is not supported (Kimi's docs as github:pydantic/pydantic-ai#2211 quotes them), and with
    # thinking on (K2.6's default) neither it nor a named tool ("tool_choice 'required' is incompatible with thinking
    # enabled": github:AstrBotDevs/AstrBot#7805; github:can1357/oh-my-pi#1077): none and auto alone.
    # An assistant message with nothing in it is a 400 "the message at position N with role 'assistant' must not be
    # empty" (github:lobehub/lobehub#8419, api.moonshot.cn; github:AstrBotDevs/AstrBot#7200, kimi-k2.5), and empty
    # text beside tool calls "text content is empty" (github:MoonshotAI/kimi-cli#2621; github:BerriAI/litellm#42186):
    # a history from another vendor (an agent's tool loop failing over) carries both. Left out, logged.
    # Thinking (k2.6 unless ``thinking`` says disabled, k3 always: Kimi's docs as github:lemon07r/opencode-kimi-full#11
    # quotes them; https://java.agentscope.io/v2/en/integration/model/kimi), an assistant tool-call message without
    # reasoning_content is a 400 "thinking is enabled but reasoning_content is missing in assistant tool call message
    # at index N" (github:labring/FastGPT#6357, k2.5; github:OnesoftQwQ/opencode-go-copilot#1 and
    # github:MoonshotAI/kimi-agent-sdk#169, K2.6). A client keeping content and tool_calls alone drops it: "." is sent
    # (github:anomalyco/opencode#10996 against api.moonshot.ai; not "", which not every report says passes).
    quirks=Quirks(
        usage_in_choice=True,
        temperature=(0.0, 1.0),
        top_p=(0.0, 1.0),
        developer_as_system=True,
        tool_choice=("none", "auto"),
        no_empty_assistant=True,
        reasoning_on_calls=".",
    ),
    errors=(
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            type="exceeded_current_quota_error",
            source=_ERRORS + " (429 exceeded_current_quota_error)",
        ),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED, status=403, contains="balance", source=_HELP + " (403 insufficient balance)"
        ),
        ErrorRule(
            Failure.RATE_LIMITED, type="rate_limit_reached_error", source=_ERRORS + " (429 rate_limit_reached_error)"
        ),
        ErrorRule(
            Failure.UPSTREAM_ERROR, type="engine_overloaded_error", source=_ERRORS + " (429 engine_overloaded_error)"
        ),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            type="resource_not_found_error",
            source=_ERRORS + " (404 resource_not_found_error: the model does not exist or is not allowed)",
        ),
        ErrorRule(Failure.CONTENT_FILTERED, type="content_filter", source=_ERRORS + " (400 content_filter)"),
        # Tool schemas are checked against "Moonshot Flavored JSON Schema" (github:MoonshotAI/walle docs/mfjs-spec.md),
        # a subset that refuses schemas other vendors take: "tools.function.parameters is not a valid moonshot
        # flavored json schema, details: <At path 'properties.source': type is not defined>" (github:earendil-works/
        # pi#4138, K2.6), "... when using anyOf, type should be defined in anyOf items ..." (github:abhigyanpatwari/
        # GitNexus#2703), "tools.function.parameters.type is required and must be \"object\"" (api.moonshot.cn, k3
        # and k2.6: github:14790897/MiqroForge-Desktop#1165). Another candidate may take the request as it is.
        ErrorRule(
            Failure.UNSUPPORTED,
            contains="tools.function.parameters",
            about="tools",
            source="github:MoonshotAI/walle docs/mfjs-spec.md; github:earendil-works/pi#4138 (400 moonshot flavored json schema)",
        ),
        ErrorRule(
            Failure.CONTEXT_LENGTH,
            contains="exceeded model token limit",
            source=_ERRORS + " (400 Your request exceeded model token limit)",
        ),
        ErrorRule(
            Failure.CONTEXT_LENGTH,
            contains="Input token length too long",
            source=_ERRORS + " (400 Input token length too long)",
        ),
        ErrorRule(
            Failure.AUTH_FAILED,
            type="invalid_authentication_error",
            source=_ERRORS + " (401 invalid_authentication_error)",
        ),
        ErrorRule(
            Failure.AUTH_FAILED, type="incorrect_api_key_error", source=_ERRORS + " (401 incorrect_api_key_error)"
        ),
    ),
    balance=BalanceProbe(path="/users/me/balance", parse=parse_balance),
)
