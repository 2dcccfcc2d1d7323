"""Baichuan: OpenAI-compatible, Bearer key. One 429 status means two things, split by message:
"Rate limit reached for requests" (transient) and "Insufficient account balance" (terminal).

Source: Baichuan API doc mirror https://f8cxtsvnr8.apifox.cn/apidoc/project-3794483/doc-3441122
(status table; 120 RPM per account). Prices, parameter ranges, stream usage and error ``type``/``code``
values are not in the sources: matching is on status + message, so the envelope does not matter. No
balance API.
"""

from __future__ import annotations

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Vendor

_DOC = "https://f8cxtsvnr8.apifox.cn/apidoc/project-3794483/doc-3441122"  # Baichuan's API doc, hosted on apifox

VENDOR = Vendor(
    name="baichuan",
    title="Baichuan",
    base_url="https://api.baichuan-ai.com/v1",
    docs="https://f8cxtsvnr8.apifox.cn/apidoc/project-3794483/doc-3441122",
    models={
        # Context windows from the model names/docs; prices not found (0 = unknown, set in config).
        "Baichuan4": ModelInfo(32_768, 2_048, price_known=False),
        "Baichuan4-Turbo": ModelInfo(32_768, 2_048, price_known=False),
        "Baichuan4-Air": ModelInfo(32_768, 2_048, price_known=False),
        "Baichuan3-Turbo": ModelInfo(32_768, 2_048, price_known=False),
        "Baichuan2-Turbo-192k": ModelInfo(196_608, 2_048, tools=False, price_known=False),
        "Baichuan-Text-Embedding": ModelInfo(512, None, kind="embeddings", price_known=False),
    },
    errors=(
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            status=429,
            contains="Insufficient account balance",
            source=_DOC + " (429 Insufficient account balance, please recharge)",
        ),
        ErrorRule(Failure.RATE_LIMITED, status=429, source=_DOC + " (429 Rate limit reached for requests)"),
        ErrorRule(
            Failure.CONTEXT_LENGTH,
            contains="exceeds the maximum",
            source="unconfirmed: wording assumed, not in the status table",
        ),
        ErrorRule(
            Failure.CONTENT_FILTERED,
            contains="sensitive",
            source="unconfirmed: wording assumed, not in the status table",
        ),
    ),
)
