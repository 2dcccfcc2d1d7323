"""Kunlun Tiangong (Skywork) against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

import json

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
    """The OpenAI body becomes {model, messages, stream, intent}: the vendor's native_fields and its intent (what
    else is dropped is listed in request_done, test_fields_the_native_api_lacks_are_dropped_in_the_open)."""
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"tools":[],"temperature":0.3}'
    out = json.loads(tiangong.map_request(body))
    assert out == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, "intent": "chat"}
    assert set(out) - {"intent"} == set(tiangong.VENDOR.native_fields)


def test_frames_map_to_openai_chunks() -> None:
    """type:1 frames become content deltas, the type:2 frame a stop with usage; error bodies pass through."""
    one = json.loads(tiangong.map_chunk(b'{"type":1,"arguments":[{"messages":[{"text":"hi"}]}]}'))
    assert one["choices"][0]["delta"] == {"content": "hi"}
    end = json.loads(tiangong.map_chunk(b'{"type":2,"usage":{"total_tokens":3}}'))
    assert end["choices"][0]["finish_reason"] == "stop" and end["usage"] == {"total_tokens": 3}
    assert tiangong.map_chunk(b'{"code":42900,"message":"x"}') == b'{"code":42900,"message":"x"}'


async def test_fields_the_native_api_lacks_are_dropped_in_the_open(make_gateway: GatewayFactory) -> None:
    """Tiangong's native body carries model, messages and stream only: every other field the client sends
    (temperature, top_p, max_tokens) is dropped, and request_done's "adjusted" lists each one."""
    gw = await kit.gateway(make_gateway, CASE)
    got = await kit.dropped(gw, {"temperature": 0.5, "top_p": 0.9, "max_tokens": 50})
    assert sorted(got) == ["dropped max_tokens", "dropped temperature", "dropped top_p"]
