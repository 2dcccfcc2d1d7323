"""MiniMax: OpenAI-compatible, Bearer key. Errors usually arrive as HTTP 200 with
``base_resp.status_code != 0``; the body, not the status, decides.

Sources: https://platform.minimax.io/docs/api-reference/errorcode.md (codes),
https://platform.minimax.io/docs/api-reference/text-openai-api (endpoint; temperature (0, 1] with 0
rejected, n = 1 only), https://platform.minimaxi.com/docs/guides/rate-limits . The HTTP 200 envelope is
from many third-party fixtures [3p]. Whether the OpenAI endpoint honours ``stream_options`` is not
confirmed; it is sent (OpenAI clients send it too). No documented balance API.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Quirks, Vendor

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
    quirks=Quirks(temperature=(0.01, 1.0), top_p=(0.01, 1.0), max_n=1),
    errors=(
        ErrorRule(Failure.RATE_LIMITED, code="1002"),
        ErrorRule(Failure.RATE_LIMITED, code="1041"),  # connection limit
        ErrorRule(Failure.AUTH_FAILED, code="1004"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="1008"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="2056"),  # token plan used up [3p]
        ErrorRule(Failure.CONTENT_FILTERED, code="1026"),
        ErrorRule(Failure.CONTENT_FILTERED, code="1027"),
        ErrorRule(Failure.CONTEXT_LENGTH, code="1039"),
        ErrorRule(Failure.TIMEOUT, code="1001"),
        ErrorRule(Failure.BAD_REQUEST, code="2013"),  # invalid parameters
        ErrorRule(Failure.UPSTREAM_ERROR, code="1000"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="1024"),
        ErrorRule(Failure.UPSTREAM_ERROR, code="1033"),
    ),
)
