"""Vendor errors as the vendors document them, end to end: a recorded vendor reply (from
``fixtures/<vendor>.json``) is replayed byte for byte by the emulator's ``custom`` fault, the real openai SDK asks
the real gateway, and the gateway's consequence follows the class the fixture is labelled with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
import structlog

from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory, GatewayHandle

FIXTURES = Path(__file__).parent / "fixtures"


def recorded(vendor: str, key: str, needle: str) -> dict[str, Any]:
    """The one recorded item of a vendor's fixture file whose JSON contains ``needle``."""
    items = json.loads((FIXTURES / f"{vendor}.json").read_text(encoding="utf-8"))[key]
    found = [r for r in items if needle in json.dumps(r, ensure_ascii=False)]
    assert len(found) == 1, (vendor, needle, len(found))
    item: dict[str, Any] = found[0]
    return item


async def replay(gw: GatewayHandle, emulator: EmulatorHandle, case: kit.Case, reply: dict[str, Any]) -> str:
    """Have the vendor answer the recorded reply once (its body as raw text), ask the gateway; who served."""
    raw = json.dumps(reply["body"], ensure_ascii=False)
    await emulator.fault(case.target, "custom", status=reply["status"], body=raw, count=1)
    return await kit.served_by(gw)


def cooled(gw: GatewayHandle, key_model: str) -> str:
    return gw.gw.store.health("v", key_model, gw.clock()).reason


async def test_qwen_token_rate_limit_is_a_rate_limit(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """Qwen's per-minute TOKEN limit (429 insufficient_quota, "Allocated quota exceeded") cools that candidate down
    for seconds and fails over; the account is not taken out for an hour as an exhausted quota."""
    case = kit.Case("qwen", "qwen-plus")
    gw = await kit.gateway(make_gateway, case)
    for needle in ("Allocated quota exceeded", "You exceeded your current quota"):
        await gw.gw.store.clear("v/qwen-plus", "")
        assert await replay(gw, emulator, case, recorded("qwen", "replies", needle)) == "backup"
        assert cooled(gw, "qwen-plus") == "cooldown:rate_limited"
        assert cooled(gw, "qwen-turbo") == ""  # the account itself is fine
    await gw.gw.store.clear("v/qwen-plus", "")
    assert await replay(gw, emulator, case, recorded("qwen", "replies", "Free allocated quota exceeded")) == "backup"
    assert cooled(gw, "qwen-turbo") == "cooldown:quota_exhausted"  # the free quota used up is quota


@pytest.mark.parametrize("code", ["1110", "1111", "1112", "1121"])
async def test_glm_account_codes_at_429_are_account_problems(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, code: str
) -> None:
    """Zhipu's inactive / missing / locked account codes arrive with HTTP 429; the account is taken out as an auth
    failure (until its config changes), not cooled down 5 s as a rate limit and retried forever."""
    case = kit.Case("glm", "glm-4-plus", key="key-id.key-secret")
    gw = await kit.gateway(make_gateway, case)
    assert await replay(gw, emulator, case, recorded("glm", "replies", f'"code": "{code}"')) == "backup"
    assert cooled(gw, "glm-4-air") == "cooldown:auth_failed"


async def test_qianfan_account_overdue_is_an_empty_account(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """Qianfan v2's balance error, 403 account_overdue, takes the account out as quota exhausted (a balance
    problem), not as an auth failure."""
    case = kit.Case("ernie", "ernie-4.0-8k")
    gw = await kit.gateway(make_gateway, case)
    assert await replay(gw, emulator, case, recorded("ernie", "replies", "account_overdue")) == "backup"
    assert cooled(gw, "ernie-speed-128k") == "cooldown:quota_exhausted"


@pytest.mark.parametrize("needle", ["model_offline", "No permission to use the model"])
async def test_qianfan_model_errors_take_out_one_model(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, needle: str
) -> None:
    """Qianfan's model_offline / invalid_model concern one model: that model on that account is taken out and the
    request fails over; the account's other models stay available."""
    case = kit.Case("ernie", "ernie-4.0-8k")
    gw = await kit.gateway(make_gateway, case)
    assert await replay(gw, emulator, case, recorded("ernie", "replies", needle)) == "backup"
    assert cooled(gw, "ernie-4.0-8k") == "cooldown:model_unavailable"
    assert cooled(gw, "ernie-speed-128k") == ""


async def test_minimax_2049_at_http_200_is_an_auth_failure(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """MiniMax's invalid API key, base_resp 2049 inside an HTTP 200, takes the account out as an auth failure
    instead of only tripping the breaker as an upstream error."""
    case = kit.Case("minimax", "MiniMax-M1")
    gw = await kit.gateway(make_gateway, case)
    assert await replay(gw, emulator, case, recorded("minimax", "replies", "2049")) == "backup"
    assert cooled(gw, "MiniMax-M2") == "cooldown:auth_failed"


async def test_recorded_stream_with_an_error_inside(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A recorded Qwen stream whose moderation error arrives after a content chunk, replayed line by line: the
    client's stream ends with an error naming the class, never a clean finish, and no silent failover."""
    case = kit.Case("qwen", "qwen-plus")
    gw = await kit.gateway(make_gateway, case)
    events = recorded("qwen", "streams", "data_inspection_failed")["events"]
    await emulator.fault("qwen", "custom", events=events, latency_ms=5, count=1)
    chunks = await gw.client().chat.completions.create(model="v", messages=kit.MESSAGES, stream=True)
    text = ""
    with pytest.raises(openai.APIError, match="content_filtered"):
        async for chunk in chunks:
            text += "".join(c.delta.content or "" for c in chunk.choices)
    assert text == "你好" and await emulator.requests("openai.backup") == 0


async def test_recorded_stream_with_keep_alives(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A recorded DeepSeek stream that starts with ': keep-alive' comments and ends with an include_usage chunk is
    relayed to the SDK, and its usage is booked."""
    case = kit.Case("deepseek", "deepseek-chat")
    gw = await kit.gateway(make_gateway, case)
    events = recorded("deepseek", "streams", "keep-alive")["events"]
    await emulator.fault("deepseek", "custom", events=events, count=1)
    with structlog.testing.capture_logs() as logs:
        chunks = await gw.client().chat.completions.create(model="v-only", messages=kit.MESSAGES, stream=True)
        text = "".join([c.delta.content or "" async for chunk in chunks for c in chunk.choices])
        done = await kit.request_done(logs)
    assert text == "你好" and done["stream_end"] == "done" and done["tokens"]["completion"] == 1
