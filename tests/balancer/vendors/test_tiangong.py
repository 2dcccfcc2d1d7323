"""Kunlun Tiangong (Skywork) against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import json

import structlog

from balancer.vendors import tiangong
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("tiangong", "SkyChat-MegaVerse", key="app-key-1:app-secret-1")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape, mapped from type:1/type:2 frames."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """Tiangong's error bodies (assumed shape) each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A signature made with another secret gets Tiangong's 401 body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


def test_sign_vector() -> None:
    """sign = md5(app_key + app_secret + timestamp), hex, with the timestamp in whole seconds."""
    headers = tiangong.sign("app-key-1:app-secret-1", b"{}", {}, 1_700_000_000.9)
    assert headers == {
        "app_key": "app-key-1",
        "timestamp": "1700000000",
        "sign": "4d729c648d8d6040a3a17dbda5fec16e",  # md5("app-key-1" "app-secret-1" "1700000000")
    }


def test_request_mapping_drops_only_what_tiangong_cannot_take() -> None:
    """The OpenAI body becomes {model, messages, stream, intent}; dropped fields are logged at debug."""
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"tools":[],"temperature":0.3}'
    with structlog.testing.capture_logs() as logs:
        out = json.loads(tiangong.map_request(body))
    assert out == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, "intent": "chat"}
    assert logs and logs[0]["dropped"] == ["temperature", "tools"] and logs[0]["log_level"] == "debug"


def test_frames_map_to_openai_chunks() -> None:
    """type:1 frames become content deltas, the type:2 frame a stop with usage; error bodies pass through."""
    one = json.loads(tiangong.map_chunk(b'{"type":1,"arguments":[{"messages":[{"text":"hi"}]}]}'))
    assert one["choices"][0]["delta"] == {"content": "hi"}
    end = json.loads(tiangong.map_chunk(b'{"type":2,"usage":{"total_tokens":3}}'))
    assert end["choices"][0]["finish_reason"] == "stop" and end["usage"] == {"total_tokens": 3}
    assert tiangong.map_chunk(b'{"code":42900,"message":"x"}') == b'{"code":42900,"message":"x"}'
