"""OpenAI itself — the reference dialect (for teams outside the block).

Source: https://platform.openai.com/docs/guides/error-codes (shared research vendors-api.md §17); the
error envelope ``{"error":{"message","type","param","code"}}`` is the ``Error`` schema of the OpenAPI spec
shipped in github:openai/openai-python (api_reference/openapi.transformed.yml). A missing model (404
``model_not_found``) is a generic rule (``openai_compat``).
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import BatchApi, ErrorRule, ModelInfo, Vendor

_DOC = "https://platform.openai.com/docs/guides/error-codes"

VENDOR = Vendor(
    name="openai",
    title="OpenAI",
    base_url="https://api.openai.com/v1",
    docs=_DOC,
    models={
        "gpt-4.1": ModelInfo(1_047_576, 32_768, 2.0, 8.0, 0.5, "USD", vision=True),
        "gpt-4.1-mini": ModelInfo(1_047_576, 32_768, 0.4, 1.6, 0.1, "USD", vision=True),
        "gpt-4o-mini": ModelInfo(128_000, 16_384, 0.15, 0.6, 0.075, "USD", vision=True),
        "text-embedding-3-small": ModelInfo(8_191, None, 0.02, 0.0, currency="USD", kind="embeddings"),
    },
    # /v1/files (purpose=batch) + /v1/batches, 24h window, 50% off input and output tokens; the guide was not read
    # here, the discount as OpenAI staff and community answers quote it (community.openai.com/t/1357069).
    batch=BatchApi(
        endpoint="/v1/chat/completions",
        price_factor=0.5,
        source="https://platform.openai.com/docs/guides/batch",
    ),
    errors=(
        # 429 is split by body: quota and spend limits are terminal, plain rate limits transient.
        ErrorRule(
            Failure.QUOTA_EXHAUSTED, code="insufficient_quota", source=_DOC + " (429 You exceeded your current quota)"
        ),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="credit_balance_exhausted", source=_DOC),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="organization_spend_limit_exceeded", source=_DOC),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="project_spend_limit_exceeded", source=_DOC),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="organization_usage_limit_exceeded", source=_DOC),
        ErrorRule(Failure.RATE_LIMITED, status=429, source=_DOC + " (429 Rate limit reached for requests)"),
        ErrorRule(
            Failure.UPSTREAM_ERROR, status=503, source=_DOC + " (503 The engine is currently overloaded / Slow Down)"
        ),
    ),
)
