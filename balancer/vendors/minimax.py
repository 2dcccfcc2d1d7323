"""MiniMax: OpenAI-compatible, Bearer key. Errors usually arrive as HTTP 200 with
``base_resp.status_code != 0``; the body, not the status, decides.

Sources: https://platform.minimax.io/docs/api-reference/errorcode (codes; 2049 = invalid API key, 1039
"token limit" is answered "retry later", a rate limit),
https://platform.minimax.io/docs/api-reference/text-openai-api (endpoint; temperature (0, 1] with 0
rejected, n = 1 only), https://platform.minimaxi.com/docs/guides/rate-limits . The HTTP 200 envelope is
from many third-party fixtures [3p]. Whether the OpenAI endpoint honours ``stream_options`` is not
confirmed; it is sent (OpenAI clients send it too). No documented balance API.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor

_CODES = "https://platform.minimax.io/docs/api-reference/errorcode"

VENDOR = Vendor(
    name="minimax",
    title="MiniMax",
    base_url="https://api.minimaxi.com/v1",
    docs="https://platform.minimax.io/docs/api-reference/errorcode.md",
    models={
        # USD list prices (3p promptfoo / litellm docs); context per model card.
        "MiniMax-M2.7": ModelInfo(204_800, 131_072, 0.3, 1.2, 0.06, "USD"),
        "MiniMax-M2.5": ModelInfo(204_800, 131_072, 0.3, 1.2, None, "USD"),
        "MiniMax-M2": ModelInfo(204_800, 131_072, 0.3, 1.2, None, "USD"),
        "MiniMax-M1": ModelInfo(1_000_000, 40_000, 0.8, 8.0),
        "MiniMax-Text-01": ModelInfo(1_000_192, 40_000, 1.0, 8.0),
    },
    # n = 1 only and temperature (0, 1] with 0 rejected: https://platform.minimax.io/docs/api-reference/text-openai-api
    # The role "developer" is 2013 "invalid params, invalid role: developer" (github:openclaw/openclaw#3022): sent as "system".
    # One system message, first: several are 2013 "invalid chat setting" (github:MiniMax-AI/MiniMax-M2#51, a MiniMax
    # engineer: not supported yet, merge them), one after another turn 2013 "chat content has invalid message role:
    # system" (github:MiniMax-AI/MiniMax-M2#27; github:BigPizzaV3/CodexPlusPlus#267).
    quirks=Quirks(temperature=(0.01, 1.0), top_p=(0.01, 1.0), max_n=1, developer_as_system=True, one_system_first=True),
    errors=(
        ErrorRule(Failure.AUTH_FAILED, code="1004", source=_CODES + " (1004 not authorized / token not match group)"),
        ErrorRule(Failure.AUTH_FAILED, code="2049", source=_CODES + " (2049 invalid api key)"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="1008", source=_CODES + " (1008 insufficient balance)"),
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            code="2056",
            source=_CODES + " (2056 usage limit exceeded: wait for the next 5-hour window)",
        ),
        ErrorRule(Failure.RATE_LIMITED, code="1002", source=_CODES + " (1002 rate limit)"),
        # "token limit", answered "Please retry your requests later": the token rate, not the context window.
        ErrorRule(Failure.RATE_LIMITED, code="1039", source=_CODES + " (1039 token limit: retry later)"),
        ErrorRule(Failure.RATE_LIMITED, code="1041", source=_CODES + " (1041 conn limit)"),
        ErrorRule(Failure.RATE_LIMITED, code="2045", source=_CODES + " (2045 rate growth limit)"),
        ErrorRule(Failure.CONTENT_FILTERED, code="1026", source=_CODES + " (1026 input new_sensitive)"),
        ErrorRule(Failure.CONTENT_FILTERED, code="1027", source=_CODES + " (1027 output new_sensitive)"),
        ErrorRule(Failure.TIMEOUT, code="1001", source=_CODES + " (1001 request timeout)"),
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="2013",
            contains="fail to get model info",
            source='unconfirmed: 2013 "invalid params, fail to get model info" for an unknown model, seen in third-party docs',
        ),
        ErrorRule(
            Failure.CONTEXT_LENGTH,
            code="2013",
            contains="context window exceeds limit",
            source="unconfirmed: no context-length code is documented; 2013 with this wording assumed",
        ),
        ErrorRule(Failure.BAD_REQUEST, code="2013", source=_CODES + " (2013 invalid params)"),
        ErrorRule(Failure.BAD_REQUEST, code="1042", source=_CODES + " (1042 invisible character ratio limit)"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="1000", source=_CODES + " (1000 unknown error: retry later)"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="1024", source=_CODES + " (1024 internal error)"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="1033", source=_CODES + " (1033 system error / mysql failed)"),
    ),
)
