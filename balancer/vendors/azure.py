"""Azure OpenAI: OpenAI's models under Azure's URL scheme and auth.

``POST {base}/openai/deployments/{deployment}/chat/completions?api-version={v}`` with an ``api-key``
header. Provider ``extra`` settings: ``api_version``; ``deployment.<model>`` (per model) or
``deployment`` (one for all); without either, the model name with dots removed ("gpt-3.5" -> "gpt-35",
as one-api does). ``resource`` fills ``{resource}`` in the default base URL.

Sources: one-api ``relay/adaptor/openai/adaptor.go`` (URL, dots), Microsoft Q&A (429 message with
"Please retry after N seconds" and ``retry-after-ms``), research vendors-api.md §16 (content filter:
400 ``content_filter``, a generic rule). The exact 429 JSON envelope was not seen, only its message: an
``{"error":{"code":"429","message":…}}`` envelope is assumed; the rules match on the status, so the
envelope does not matter. 401 and 5xx follow the generic status rules. Azure has no prepaid balance
(billing is per subscription), so no balance probe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from balancer.errors import Failure
from balancer.vendors.base import ErrorRule, ModelInfo, Vendor, api_key_header

_QUOTAS = "https://learn.microsoft.com/azure/ai-services/openai/quotas-limits"

DEFAULT_API_VERSION = "2024-10-21"


def request_url(base: str, kind: Literal["chat", "embeddings"], model: str, extra: Mapping[str, str]) -> str:
    base = base.replace("{resource}", extra.get("resource", "{resource}"))
    deployment = extra.get(f"deployment.{model}") or extra.get("deployment") or model.replace(".", "")
    path = "chat/completions" if kind == "chat" else "embeddings"
    version = extra.get("api_version", DEFAULT_API_VERSION)
    return f"{base}/openai/deployments/{deployment}/{path}?api-version={version}"


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
        ErrorRule(
            Failure.QUOTA_EXHAUSTED,
            code="insufficient_quota",
            source="unconfirmed: Azure bills per subscription (no prepaid balance); OpenAI's insufficient_quota kept as OpenAI means it",
        ),
        ErrorRule(
            Failure.RATE_LIMITED,
            status=429,
            source=_QUOTAS + " (429 when a deployment's TPM/RPM is exceeded; retry-after-ms)",
        ),
        # A deployment is one model on one resource: a wrong or deleted one takes out that candidate only.
        ErrorRule(
            Failure.MODEL_UNAVAILABLE,
            code="DeploymentNotFound",
            source="unconfirmed: 404 DeploymentNotFound as quoted on Microsoft Q&A (research vendors-api.md §16)",
        ),
    ),
)
