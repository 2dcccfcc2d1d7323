"""Tencent Hunyuan's native TC3-signed API against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

from typing import Any

import orjson

from balancer.vendors import hunyuan_native, tc3
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("hunyuan-native", "hunyuan-turbo", key="AKIDexample:secret-key-1")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """Capitalised native replies and a stream without [DONE] (ended by FinishReason) reach the client as OpenAI."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """HTTP 200 Response.Error codes each lead to their failure class's consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A request signed with another key pair gets AuthFailure.SignatureFailure and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_right_key_verifies(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """The emulator recomputes the TC3 signature over the body with the account's key pair and accepts it."""
    gw = await kit.gateway(make_gateway, CASE)
    emulator.emu.target("hunyuan-native").key = CASE.key
    assert await kit.served_by(gw) == "v"


async def test_balance(make_gateway: GatewayFactory) -> None:
    """No balance API with a key pair here (Tencent billing is not researched): never polled."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


def test_tc3_documented_vector() -> None:
    """Tencent's worked signature-v3 example (CVM DescribeInstances at 1551113065) signs to its published value."""
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    canonical = tc3.canonical_request(payload, "cvm.tencentcloudapi.com", "application/json; charset=utf-8")
    header = tc3.authorization(
        "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "Gu5t9xGARNpq86cd98joQYCN3*******", "cvm", 1551113065, canonical
    )
    assert header == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


def test_sign_headers_and_request_mapping() -> None:
    """The signed request carries action, version and timestamp; the body is mapped to capitalised fields."""
    body = hunyuan_native.map_request(
        b'{"model":"hunyuan-turbo","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"tools":[]}'
    )
    assert orjson.loads(body) == {
        "Model": "hunyuan-turbo",
        "Temperature": 0.5,
        "Messages": [{"Role": "user", "Content": "hi"}],
    }
    h = hunyuan_native.sign("id:key", body, {"region": "ap-guangzhou"}, 1_700_000_000.5)
    assert h["X-TC-Action"] == "ChatCompletions" and h["X-TC-Version"] == "2023-09-01"
    assert h["X-TC-Timestamp"] == "1700000000" and h["X-TC-Region"] == "ap-guangzhou"


def test_the_mapping_carries_exactly_the_native_fields() -> None:
    """map_request carries the fields the vendor declares as native_fields (renamed) and nothing else: what the
    gateway lists as dropped is what the mapping drops."""
    body = b'{"model":"m","messages":[],"stream":true,"temperature":0.5,"top_p":0.9,"tools":[],"n":1}'
    out = orjson.loads(hunyuan_native.map_request(body))
    assert set(out) == {"Model", "Messages", "Stream", "Temperature", "TopP"}
    assert len(hunyuan_native.VENDOR.native_fields) == len(out)


async def test_a_stream_held_open_after_its_finish_reason_is_complete(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """Hunyuan's native stream ends with a FinishReason, not [DONE]: when the body is then held open, the answer is
    still whole and ended cleanly (the silence after the finish is its end), not cut by the idle timer as a stalled
    stream with the account cooled down."""
    edit = kit.edit_for(CASE)

    def idle(raw: dict[str, Any]) -> None:
        edit(raw)
        raw["providers"]["v"]["timeouts"] = {"idle_s": 3.0}

    gw = await make_gateway(idle)
    await emulator.fault(CASE.target, "linger")
    await kit.stream(gw)
    assert gw.gw.store.health("v", CASE.model, gw.clock()).available


async def test_fields_the_native_api_lacks_are_dropped_in_the_open(make_gateway: GatewayFactory) -> None:
    """OpenAI fields the native mapping does not carry (max_tokens, seed, stop, user) are dropped, and
    request_done's "adjusted" lists each one; the fields it carries (temperature, top_p) are not listed."""
    gw = await kit.gateway(make_gateway, CASE)
    fields = {"max_tokens": 50, "seed": 7, "stop": ["。"], "user": "u1", "temperature": 0.5, "top_p": 0.9}
    got = await kit.dropped(gw, fields)
    assert sorted(got) == ["dropped max_tokens", "dropped seed", "dropped stop", "dropped user"]
