"""01.AI Yi (lingyiwanwu): OpenAI-compatible, Bearer key.

Sources: Portkey ``src/providers/lingyi/api.ts`` (base URL), 3p price list (2025-02: yi-lightning 1/1 RMB).
Yi's error codes and rate limits were not found in any stored source: the rules below assume OpenAI's
envelope and status meanings (429 rate limit, 402/insufficient_quota balance), which is what its
"OpenAI drop-in" positioning implies. Treat as unconfirmed; extend the table when a real body is seen.
No balance API.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Vendor

_ASSUMED = "unconfirmed: no Yi error table found; OpenAI's status meanings assumed from its drop-in positioning"

VENDOR = Vendor(
    name="yi",
    title="01.AI Yi",
    base_url="https://api.lingyiwanwu.com/v1",
    docs="https://platform.lingyiwanwu.com/docs",
    models={
        "yi-lightning": ModelInfo(16_384, 4_096, 1.0, 1.0),
        # yi-large/-medium/-spark/-vision prices: 2024 launch list, not re-confirmed (override in config).
        "yi-large": ModelInfo(32_768, 4_096, 20.0, 20.0),
        "yi-medium": ModelInfo(16_384, 4_096, 2.5, 2.5, tools=False),
        "yi-spark": ModelInfo(16_384, 4_096, 1.0, 1.0, tools=False),
        "yi-vision-v2": ModelInfo(16_384, 4_096, 6.0, 6.0, tools=False, vision=True),
    },
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, status=402, source=_ASSUMED),
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="insufficient_quota", source=_ASSUMED),
        ErrorRule(Failure.RATE_LIMITED, status=429, source=_ASSUMED),
    ),
)
