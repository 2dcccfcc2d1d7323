"""End to end: the real openai SDK through the gateway to the emulator; the ledger must match the emulator's
own usage counters, through retries, failovers, streams and embeddings."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import openai
import pytest

from balancer.credit.pricing import MICRO
from tests.conftest import CHAT, EmulatorHandle, GatewayFactory

TARGETS = {"ds-a": "deepseek.a", "ds-b": "deepseek.b", "qwen": "qwen", "kimi": "kimi", "ds-c": "deepseek.c"}


def edit(c: dict[str, Any]) -> None:
    c["providers"]["ds-a"]["account"] = {
        "paid_balance": 50,
        "grants": [{"name": "pack", "tokens": 40, "models": ["deepseek-chat"], "expires": "2099-12-31"}],
    }
    c["providers"]["ds-c"] = {
        "vendor": "deepseek",
        "api_key": "sk-c",
        "base_url": c["providers"]["ds-a"]["base_url"][:-1] + "c",
    }
    c["routes"]["cut"] = {"strategy": "priority", "candidates": [{"provider": "ds-c", "model": "deepseek-chat"}]}


async def stream(client: openai.AsyncOpenAI, model: str) -> str:
    text = ""
    async for chunk in await client.chat.completions.create(
        model=model,
        messages=CHAT["messages"],
        stream=True,  # type: ignore[arg-type]
    ):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
    return text


async def test_ledger_matches_emulator_usage(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """Every request the vendors served is booked exactly once, to the token; a cut stream is booked as an estimate."""
    await emulator.limits("deepseek.a", paid=50.0)  # the balance poll at start agrees with the config
    gw = await make_gateway(edit)
    client = gw.client()
    for _ in range(3):
        await client.chat.completions.create(model="chat", messages=CHAT["messages"])  # type: ignore[arg-type]
    await emulator.fault("deepseek.a", "rate_limit", count=2)
    for _ in range(2):  # ds-a refuses: fail over to ds-b
        r = await client.chat.completions.with_raw_response.create(model="chat", messages=CHAT["messages"])  # type: ignore[arg-type]
        assert r.headers["x-qiao-provider"] == "ds-b"
    gw.clock.advance(10)  # ds-a's rate-limit cooldown is over
    await emulator.fault("deepseek.a", "server_error", count=1)
    assert await stream(client, "chat")  # fails over before the first byte, streams from ds-b
    for model in ("chat", "chat", "kimi"):
        assert await stream(client, model)
    await client.embeddings.create(model="embed", input=["你好", "世界"])
    await emulator.fault("deepseek.c", "truncate_stream", count=1)
    with pytest.raises(openai.APIError):
        await stream(client, "cut")

    stats = await emulator.stats()
    snap = await gw.gw.ledger.snapshot(gw.clock())
    booked: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tokens, requests, estimated
    for row in snap.rows:
        b = booked[row.provider]
        b[0], b[1], b[2] = b[0] + row.tokens, b[1] + row.requests, b[2] + row.estimated
    for provider in ("ds-a", "ds-b", "qwen", "kimi"):
        target = stats[TARGETS[provider]]
        assert booked[provider][0] == target["total_tokens"], provider
        assert booked[provider][2] == 0
    assert stats["deepseek.a"]["served"] == 5 and stats["deepseek.b"]["served"] == 3
    assert stats["deepseek.c"]["served"] == 0
    assert booked["ds-c"][1] == 1 and booked["ds-c"][2] == 1 and booked["ds-c"][0] > 0  # estimated, and marked

    pack = next(g for g in snap.grants if g.grant.name == "pack")
    assert pack.used == 40  # the grant went first, the rest was paid
    paid = sum(r.micro for r in snap.rows if r.provider == "ds-a" and r.bucket == "paid")
    assert paid > 0 and snap.paid_remaining["ds-a"] == 50 * MICRO - paid
