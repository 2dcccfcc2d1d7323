"""OpenAI itself — the reference dialect (for teams outside the block).

Source: https://developers.openai.com/docs/guides/error-codes (see shared research vendors-api.md §17).
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Vendor

VENDOR = Vendor(
    name="openai",
    title="OpenAI",
    base_url="https://api.openai.com/v1",
    docs="https://developers.openai.com/docs/guides/error-codes",
    models={
        "gpt-4.1": ModelInfo(1_047_576, 32_768, 2.0, 8.0, 0.5, "USD", vision=True),
        "gpt-4.1-mini": ModelInfo(1_047_576, 32_768, 0.4, 1.6, 0.1, "USD", vision=True),
        "gpt-4o-mini": ModelInfo(128_000, 16_384, 0.15, 0.6, 0.075, "USD", vision=True),
        "text-embedding-3-small": ModelInfo(8_191, None, 0.02, 0.0, currency="USD", kind="embeddings"),
    },
    errors=(
        # 429 is split by body: quota and spend limits are terminal, plain rate limits transient.
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="insufficient_quota"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="credit_balance_exhausted"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="organization_spend_limit_exceeded"),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="project_spend_limit_exceeded"),
        ErrorRule(Failure.RATE_LIMITED, status=429),
        ErrorRule(Failure.UPSTREAM_ERROR, status=503),
    ),
)
