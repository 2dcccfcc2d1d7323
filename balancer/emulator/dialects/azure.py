"""Azure OpenAI's error bodies, with ``retry-after-ms`` beside ``Retry-After`` on a 429.

The 429 envelope ``{"error":{"code":"429","message":…}}`` is assumed (only the message was seen).
Azure has no prepaid balance: "balance exhausted" answers a spend-cap stand-in.
"""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect, ErrorReply


def _err(status: int, code: str, message: str) -> ErrorReply:
    return status, {"error": {"code": code, "message": message}}


DIALECT = Dialect(
    auth=_err(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
        "for an active subscription and use a correct regional API endpoint for your resource.",
    ),
    rate_limit=_err(
        429,
        "429",
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded "
        "token rate limit of your current AIServices S0 pricing tier. Please retry after 37 seconds.",
    ),
    balance_exhausted=_err(429, "insufficient_quota", "The spending limit of this subscription was reached."),
    content_filter=(
        400,
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
                "management policy.",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation"},
            }
        },
    ),
    # Hand-written: DeploymentNotFound as quoted on Microsoft Q&A (research vendors-api.md §16).
    model_unavailable=_err(
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment within the last 5 "
        "minutes, please wait a moment and try again.",
    ),
    retry_after_ms=True,
)
