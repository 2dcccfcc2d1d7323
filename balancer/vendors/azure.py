"""Azure OpenAI: OpenAI's models under Azure's URL scheme and auth.

``POST {base}/openai/deployments/{deployment}/chat/completions?api-version={v}`` with an ``api-key``
header. Provider ``extra`` settings: ``api_version``; ``deployment.<model>`` (per model) or
``deployment`` (one for all); without either, the model name with dots removed ("gpt-3.5" -> "gpt-35",
as one-api does). ``resource`` fills ``{resource}`` in the default base URL.

Sources: one-api ``relay/adaptor/openai/adaptor.go`` (URL, dots), Microsoft Q&A (429 message with
"Please retry after N seconds" and ``retry-after-ms``), research vendors-api.md §16 (content filter:
400 ``content_filter``). The exact 429 JSON envelope was not seen, only its message: an
``{"error":{"code":"429","message":…}}`` envelope is assumed. Azure has no prepaid balance (billing is
per subscription), so no balance probe; the emulator's "balance exhausted" is a spend-cap stand-in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from balancer.errors import Failure
from balancer.vendors.base import Dialect, ErrorRule, ModelInfo, Vendor, api_key_header

DEFAULT_API_VERSION = "2024-10-21"


def request_url(base: str, kind: Literal["chat", "embeddings"], model: str, extra: Mapping[str, str]) -> str:
    base = base.replace("{resource}", extra.get("resource", "{resource}"))
    deployment = extra.get(f"deployment.{model}") or extra.get("deployment") or model.replace(".", "")
    path = "chat/completions" if kind == "chat" else "embeddings"
    version = extra.get("api_version", DEFAULT_API_VERSION)
    return f"{base}/openai/deployments/{deployment}/{path}?api-version={version}"


def _err(status: int, code: str, message: str) -> tuple[int, dict[str, object]]:
    return status, {"error": {"code": code, "message": message}}


VENDOR = Vendor(
    name="azure",
    title="Azure OpenAI",
    base_url="https://{resource}.openai.azure.com",
    auth=api_key_header,
    auth_scheme="api-key: <key>; deployment path + api-version from provider.extra",
    url=request_url,
    docs="https://learn.microsoft.com/azure/ai-services/openai/reference",
    models={
        # List prices as OpenAI's (USD); Azure regional prices differ slightly.
        "gpt-4.1": ModelInfo(1_047_576, 32_768, 2.0, 8.0, 0.5, "USD", vision=True),
        "gpt-4.1-mini": ModelInfo(1_047_576, 32_768, 0.4, 1.6, 0.1, "USD", vision=True),
        "gpt-4o": ModelInfo(128_000, 16_384, 2.5, 10.0, 1.25, "USD", vision=True),
        "gpt-4o-mini": ModelInfo(128_000, 16_384, 0.15, 0.6, 0.075, "USD", vision=True),
        "text-embedding-3-small": ModelInfo(8_191, None, 0.02, 0.0, currency="USD", kind="embeddings"),
    },
    errors=(
        ErrorRule(Failure.QUOTA_EXHAUSTED, code="insufficient_quota"),
        ErrorRule(Failure.RATE_LIMITED, status=429),
        ErrorRule(Failure.BAD_REQUEST, code="DeploymentNotFound"),
        ErrorRule(Failure.AUTH_FAILED, status=401),
        ErrorRule(Failure.UPSTREAM_ERROR, status=503),
    ),
    dialect=Dialect(
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
        retry_after_ms=True,
    ),
)
