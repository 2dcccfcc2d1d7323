"""OpenAI's error bodies (Bearer key; the other bodies are the OpenAI-style defaults). 401/429: the messages of
https://platform.openai.com/docs/guides/error-codes in the spec's ``Error`` envelope; insufficient_quota: the
body quoted in https://github.com/plexpt/chatgpt-java/issues/249 ."""

from __future__ import annotations

from balancer.emulator.dialects.base import Dialect

DIALECT = Dialect(
    auth=(
        401,
        {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
    ),
    rate_limit=(
        429,
        {
            "error": {
                "message": "Rate limit reached for requests",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
    ),
    balance_exhausted=(
        429,
        {
            "error": {
                "message": "You exceeded your current quota, please check your plan and billing details. For more information "
                "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        },
    ),
)
