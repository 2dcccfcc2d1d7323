"""What the official SDKs read, exactly as OpenAI sends it, whatever the vendor behind the route: embeddings in the
encoding the client asked for, a stream's usage where the SDK reads it, a field no candidate can honour refused
rather than dropped, and a model retrieved by id. Real clients against a real gateway and the emulator."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import EmulatorHandle, GatewayFactory

INPUT = ["你好", "世界"]


async def test_models_retrieve(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """``client.models.retrieve(route)`` answers the route as OpenAI's model object (as GET /v1/models lists it);
    an unknown id is a 404 model_not_found."""
    gw = await make_gateway()
    c = gw.client()
    m = await c.models.retrieve("chat")
    assert (m.id, m.object) == ("chat", "model") and isinstance(m.created, int)
    listed = {x.id: x for x in (await c.models.list()).data}
    assert listed["chat"] == m
    with pytest.raises(openai.NotFoundError) as e:
        await c.models.retrieve("no-such-route")
    assert e.value.code == "model_not_found"
