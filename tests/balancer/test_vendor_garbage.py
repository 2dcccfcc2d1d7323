"""A vendor whose native reply the gateway maps to OpenAI's shape answers with JSON of the wrong shape: the
mapping must not crash the request, it is a malformed reply like any other (failed over, reservation freed)."""

from __future__ import annotations

from typing import Any

import openai
import pytest
import structlog

from tests.balancer.vendors import kit
from tests.conftest import EmulatorHandle, GatewayFactory

CASE = kit.Case("hunyuan-native", "hunyuan-turbo", key="AKIDexample:secret-key-1")


@pytest.mark.parametrize(
    "body",
    [{"Response": {"Choices": [1]}}, {"Response": ["x"]}, {"Response": {"Choices": [{"Message": "x"}]}}],
)
async def test_a_misshapen_native_reply_fails_over(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, body: dict[str, Any]
) -> None:
    """A 200 whose native body has the wrong shape fails over to the next candidate, not a 500."""
    gw = await make_gateway(kit.edit_for(CASE))
    await emulator.fault("hunyuan-native", "custom", status=200, body=body)
    r = await gw.client().chat.completions.with_raw_response.create(model="v", messages=kit.MESSAGES)
    assert r.headers["x-qiao-provider"] == "backup"
    assert gw.gw.store._usage["v"].in_flight == 0


@pytest.mark.parametrize("event", ['data: {"Choices": [1]}', 'data: {"Choices": [{"Delta": "x"}]}'])
async def test_a_misshapen_native_chunk_fails_over(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, event: str
) -> None:
    """A stream whose first native chunk has the wrong shape fails over to the next candidate, not a 500."""
    gw = await make_gateway(kit.edit_for(CASE))
    await emulator.fault(
        "hunyuan-native", "custom", status=200, headers={"Content-Type": "text/event-stream"}, events=[event]
    )
    r = await gw.client().chat.completions.with_raw_response.create(model="v", messages=kit.MESSAGES, stream=True)
    chunks = [c async for c in r.parse()]
    assert r.headers["x-qiao-provider"] == "backup" and chunks
    assert gw.gw.store._usage["v"].in_flight == 0


async def test_a_misshapen_native_chunk_mid_stream_ends_it_with_an_error_event(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """A misshapen native chunk after the first ends the client's stream with an error event (the SDK raises),
    and the attempt is recorded as a malformed response, not as the client leaving."""
    gw = await make_gateway(kit.edit_for(CASE))
    events = ['data: {"Choices": [{"Delta": {"Content": "好"}}]}', 'data: {"Choices": [1]}']
    await emulator.fault(
        "hunyuan-native", "custom", status=200, headers={"Content-Type": "text/event-stream"}, events=events
    )
    with structlog.testing.capture_logs() as logs:
        stream = await gw.client().chat.completions.create(model="v", messages=kit.MESSAGES, stream=True)
        with pytest.raises(openai.APIError, match="malformed_response"):
            async for _ in stream:
                pass
    assert [e["failure"] for e in logs if e["event"] == "stream_failed"] == ["malformed_response"]
    assert gw.gw.store._usage["v"].in_flight == 0
