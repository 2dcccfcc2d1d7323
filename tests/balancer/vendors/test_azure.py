"""Azure OpenAI against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import pytest

from balancer.vendors import azure
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("azure", "gpt-4o-mini", extra={"api_version": "2024-10-21", "deployment.gpt-4o-mini": "mini-prod"})


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """Azure's 429 (with retry-after-ms), 401, content-filter and context bodies each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong api-key header gets Azure's 401 'Access denied' body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


def test_deployment_url() -> None:
    """The URL carries the deployment (mapped per model, else the model without dots) and api-version."""
    extra = {"resource": "acme", "deployment.gpt-4o": "prod-4o", "api_version": "2024-10-21"}
    url = azure.VENDOR.request_url(None, "chat", "gpt-4o", extra)
    assert url == "https://acme.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
    url = azure.VENDOR.request_url("https://x.example", "embeddings", "gpt-3.5-turbo", {})
    assert (
        url == f"https://x.example/openai/deployments/gpt-35-turbo/embeddings?api-version={azure.DEFAULT_API_VERSION}"
    )
    assert azure.VENDOR.auth("k") == {"api-key": "k"}


async def test_retry_after_ms_sets_cooldown(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A 429 with retry-after-ms cools the deployment down for that long, then it is used again."""
    gw = await kit.gateway(make_gateway, CASE)
    await emulator.fault("azure", "rate_limit", retry_after=37, count=1)
    assert await kit.served_by(gw) == "backup"
    health = gw.gw.store.health("v", CASE.model, gw.clock())
    assert health.reason == "cooldown:rate_limited" and health.until - gw.clock() == pytest.approx(37)
    gw.clock.advance(38)
    assert await kit.served_by(gw) == "v"
