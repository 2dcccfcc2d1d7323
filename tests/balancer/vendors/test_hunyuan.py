"""Tencent Hunyuan against its emulator dialect, through the gateway and the openai SDK."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from balancer.errors import Failure
from balancer.vendors import REGISTRY
from balancer.vendors import openai_compat as compat
from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("hunyuan", "hunyuan-turbo")


async def test_chat_and_stream(make_gateway: GatewayFactory) -> None:
    """A plain reply and a stream come back in OpenAI shape with usage."""
    gw = await kit.gateway(make_gateway, CASE)
    await kit.chat(gw)
    await kit.stream(gw)


async def test_tools(make_gateway: GatewayFactory) -> None:
    """A tools request comes back as an OpenAI tool call."""
    await kit.tools(await kit.gateway(make_gateway, CASE))


async def test_errors(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """HTTP 200 Response.Error codes (RequestLimitExceeded, FreeResourcePackExhausted, …) each lead to their consequence."""
    await kit.errors(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_wrong_key(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A wrong key gets the 401 body and the account is taken out."""
    await kit.wrong_key(await kit.gateway(make_gateway, CASE), emulator, CASE)


async def test_balance(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """No balance API: the account is never polled (documented as none)."""
    await kit.no_balance(await kit.gateway(make_gateway, CASE), CASE)


def _class(status: int, body: object) -> Failure | None:
    return compat.classify_reply(REGISTRY[CASE.vendor], status, {}, orjson.dumps(body))[0].failure


def test_cloud_api_error_envelope() -> None:
    """Response.Error at HTTP 200: resource packs and arrears are quota, engine limits are rate limits."""

    def body(code: str) -> object:
        return {"Response": {"Error": {"Code": code, "Message": "x"}, "RequestId": "r"}}

    assert _class(200, body("FailedOperation.ResourcePackExhausted")) is Failure.QUOTA_EXHAUSTED
    assert _class(200, body("FailedOperation.ServiceStopArrears")) is Failure.QUOTA_EXHAUSTED
    assert _class(200, body("FailedOperation.EngineServerLimitExceeded")) is Failure.RATE_LIMITED
    assert _class(200, body("AuthFailure.SignatureFailure")) is Failure.AUTH_FAILED


async def test_turns_that_do_not_alternate_go_past_hunyuan(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """Hunyuan needs user and assistant turns to alternate (the emulator answers its 400 1001 otherwise): a
    context turn and a question as two user messages go to the route's next candidate; on Hunyuan alone a 400
    names messages; alternating turns are served by Hunyuan."""
    gw = await kit.gateway(make_gateway, CASE)
    seen = emulator.record_bodies()
    two: Any = [{"role": "user", "content": "资料：……"}, {"role": "user", "content": "总结一下"}]
    raw = await gw.client().chat.completions.with_raw_response.create(model="v", messages=two)
    assert raw.headers["x-qiao-provider"] == "backup" and [b["model"] for b in seen] == ["gpt-4.1"]
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(model="v-only", messages=two)
    assert isinstance(exc.value.body, dict) and exc.value.body["param"] == "messages"
    reply = await gw.client().chat.completions.create(model="v-only", messages=kit.MESSAGES)
    assert reply.choices[0].message.content
