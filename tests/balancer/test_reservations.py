"""What a request reserves against an account's TPM before its reply says how many tokens it took: its input's
estimate, and for a chat request its answer's budget too. Through the gateway with the ``openai`` SDK, the
emulator holding each reply so the requests are in flight together."""

from __future__ import annotations

import asyncio
from typing import Any

import openai

from tests.conftest import EmulatorHandle, GatewayFactory, GatewayHandle


async def test_embeddings_in_flight_together_reserve_their_input_alone(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """An embedding has no answer to budget for: ten of ~100 tokens each, in flight together on an account of
    3,000 tokens a minute, are all served. Each reserving a 1,024-token answer besides, two fitted and the other
    eight were refused for the account's TPM with room to spare."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["qwen"]["limits"] = {"tpm": 3_000}

    gw: GatewayHandle = await make_gateway(edit)
    await emulator.fault("qwen", "ok", latency_ms=300)
    client = gw.client()
    text = "a bridge between two shores " * 10  # 280 bytes: ~93 tokens estimated
    replies = await asyncio.gather(
        *(client.embeddings.create(model="embed", input=text) for _ in range(10)), return_exceptions=True
    )
    refused = [r for r in replies if isinstance(r, BaseException)]
    assert not refused, (len(refused), refused[:1])
    assert all(len(r.data) == 1 for r in replies if not isinstance(r, BaseException))


async def test_chat_requests_in_flight_together_reserve_their_answers_budget(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """A chat request still reserves its answer's budget: two short questions asking up to 1,600 tokens each, in
    flight together on an account of 3,000 tokens a minute (route ``solo``, one candidate), are one served and one
    refused (503), though their prompts are a few tokens: together they could take 3,200 and more."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["limits"] = {"tpm": 3_000}

    gw: GatewayHandle = await make_gateway(edit)
    await emulator.fault("deepseek.a", "ok", latency_ms=600)  # the second asks while the first is held
    client = gw.client()
    ask = [{"role": "user", "content": "你好！"}]
    replies = await asyncio.gather(
        *(client.chat.completions.create(model="solo", messages=ask, max_tokens=1_600) for _ in range(2)),
        return_exceptions=True,
    )
    refused = [r for r in replies if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], openai.InternalServerError), replies
    assert refused[0].status_code == 503
