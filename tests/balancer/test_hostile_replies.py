"""An upstream that answers JSON no decoder should be trusted with (nested 1000 to 100000 levels deep, an embedding no
float32 holds) gave a bad reply, not the gateway a crash: it is a malformed response, failed over to the next
candidate; when none is left the client gets the usual OpenAI-style error, never a 500; a stream under way ends with
the gateway's error event; every request logs exactly one ``request_done``. A reply whose only fault is its usage
(a count below 0, or of 30 to 5000 digits) is no bad answer: it is served and booked once on an estimate
(:mod:`tests.balancer.test_usage_estimates`)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from tests.balancer import hostile_upstream
from tests.balancer.test_usage_estimates import booked_once_on_an_estimate, called_once
from tests.conftest import CHAT, EmulatorHandle, GatewayFactory, auth

DEPTHS = [1000, 5000, 100000]


def _first(upstream: str, behaviour: str, levels: int) -> Any:
    """A config edit: ``ds-a`` (the first candidate of route ``chat``, the only one of ``solo``) is the hostile
    upstream; ``ds-b`` and ``qwen`` (the emulator) stay healthy."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["base_url"] = f"{upstream}/{behaviour}/{levels}"

    return edit


def _failures(logs: list[dict[str, Any]], event: str = "upstream_failed") -> list[str]:
    return [e["failure"] for e in logs if e["event"] == event]


def _one_done(logs: list[dict[str, Any]]) -> dict[str, Any]:
    """The request's one request_done line (and no unhandled error anywhere)."""
    assert not [e for e in logs if e["event"] == "unhandled_error"]
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1, done
    return done[0]


@pytest.mark.parametrize("levels", DEPTHS)
async def test_a_deep_reply_fails_over(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]], levels: int
) -> None:
    """A non-stream reply nested ``levels`` deep is a malformed response: the next candidate answers."""
    gw = await make_gateway(_first(hostile, "deep", levels))
    r = await gw.client().chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
    assert r.status_code == 200 and r.headers["x-qiao-provider"] == "ds-b"
    assert r.parse().choices[0].message.content
    assert _failures(logs) == ["malformed_response"]
    assert _one_done(logs)["status"] == 200


@pytest.mark.parametrize("levels", DEPTHS)
@pytest.mark.parametrize(("behaviour", "stream"), [("deep", False), ("deep-first", True)])
async def test_a_deep_reply_with_no_candidate_left_is_a_502(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]], levels: int, behaviour: str, stream: bool
) -> None:
    """With no candidate left, a reply (or a stream's first chunk) nested ``levels`` deep gives the client an
    OpenAI-style 502 naming the malformed response, not a 500."""
    gw = await make_gateway(_first(hostile, behaviour, levels))
    with pytest.raises(openai.APIStatusError) as e:
        await gw.client().chat.completions.create(model="solo", messages=CHAT["messages"], stream=stream)
    assert e.value.status_code == 502 and "malformed_response" in e.value.message
    assert isinstance(e.value.body, dict) and e.value.body.get("type") == "upstream_error"
    assert _failures(logs) == ["malformed_response"]
    assert _one_done(logs)["status"] == 502


@pytest.mark.parametrize("levels", DEPTHS)
@pytest.mark.parametrize("behaviour", ["deep-first", "deep-error-event"])
async def test_a_deep_first_chunk_fails_over(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]], behaviour: str, levels: int
) -> None:
    """A stream whose first chunk (or ``event: error``'s data) nests ``levels`` deep fails over before anything
    reached the client: the next candidate streams the answer."""
    gw = await make_gateway(_first(hostile, behaviour, levels))
    r = await gw.client().chat.completions.with_raw_response.create(**CHAT, stream=True)  # type: ignore[call-overload]
    chunks = [c async for c in r.parse()]
    assert r.headers["x-qiao-provider"] == "ds-b" and chunks
    assert len(_failures(logs)) == 1
    assert _one_done(logs)["status"] == 200


@pytest.mark.parametrize("levels", DEPTHS)
async def test_a_deep_chunk_mid_stream_ends_it_with_an_error_event(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]], levels: int
) -> None:
    """A chunk nested ``levels`` deep after the first ends the client's stream with the gateway's error event
    (the SDK raises), recorded as a malformed response of that stream."""
    gw = await make_gateway(_first(hostile, "deep-later", levels))
    stream = await gw.client().chat.completions.create(model="solo", messages=CHAT["messages"], stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError, match="malformed_response"):
        async for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert got == ["好"]
    assert _failures(logs, "stream_failed") == ["malformed_response"]
    _one_done(logs)


async def test_an_error_status_with_a_deep_body_is_classified_by_its_status(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]]
) -> None:
    """A 500 whose JSON body nests 5000 levels deep is the vendor's error by its status, failed over."""
    gw = await make_gateway(_first(hostile, "deep-status", 5000))
    r = await gw.client().chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
    assert r.headers["x-qiao-provider"] == "ds-b"
    assert _failures(logs) == ["upstream_error"]
    _one_done(logs)


@pytest.mark.parametrize("digits", [30, 400, 5000])
async def test_a_count_of_many_digits_is_served_and_booked_on_an_estimate(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, hostile: str, logs: list[dict[str, Any]], digits: int
) -> None:
    """A reply whose prompt_tokens has ``digits`` digits (beyond 2**32; 5000 beyond what msgspec decodes) is served
    from the upstream asked, asked once, booked once on an estimate, never the count (no float holds it); the client
    gets the vendor's reply with the booked estimate as its usage, nothing else changed (read raw: it was the
    vendor's bytes, which Python's json, the SDK's, refuses at more than 4300 digits)."""
    gw = await make_gateway(_first(hostile, "digits-prompt_tokens", digits))
    async with (
        aiohttp.ClientSession() as http,
        http.post(gw.url + "/v1/chat/completions", json=CHAT, headers=auth()) as r,
    ):
        body = await r.read()
    assert r.status == 200 and r.headers["x-qiao-provider"] == "ds-a"
    done = _one_done(logs)
    tokens = done["tokens"]
    usage = {"prompt_tokens": tokens["prompt"], "completion_tokens": tokens["completion"]}
    assert json.loads(body) == {**hostile_upstream.REPLY, "usage": {**usage, "total_tokens": sum(usage.values())}}
    assert not _failures(logs)
    await called_once(hostile, f"digits-prompt_tokens/{digits}", emulator)
    await booked_once_on_an_estimate(gw, done)


async def test_a_deep_usage_chunk_is_lifted_as_the_vendor_wrote_it(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]]
) -> None:
    """Moonshot's final chunk (usage inside the choice) with a field nested 300 levels deep, deeper than orjson
    writes JSON again, has its usage lifted to OpenAI's usage chunk all the same (each field goes as the vendor wrote
    it; it was relayed unlifted): the client reads the vendor's usage and the stream ends with [DONE]."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["kimi"]["base_url"] = f"{hostile}/deep-usage-in-choice/300"

    gw = await make_gateway(edit)
    stream = await gw.client().chat.completions.create(
        model="kimi", messages=CHAT["messages"], stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert next(c.choices[0].delta.content for c in chunks if c.choices) == "好"
    assert chunks[-2].choices[0].finish_reason == "stop"
    usage = chunks[-1].usage
    assert not chunks[-1].choices and usage is not None
    assert usage.model_dump(exclude_none=True) == hostile_upstream.REPLY["usage"]
    assert not _failures(logs, "stream_failed")
    assert _one_done(logs)["status"] == 200


@pytest.mark.parametrize("vector", ["overflow", "text"])
async def test_an_embedding_no_float32_holds_fails_over(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, hostile: str, logs: list[dict[str, Any]], vector: str
) -> None:
    """Asked for base64, an embedding the vendor sent as ``[1e300]`` or ``["x"]`` cannot be written as float32:
    a malformed response, failed over to the next candidate (the gateway does not crash packing it)."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["qwen"]["base_url"] = f"{hostile}/{vector}/0"
        cfg["providers"]["qwen-b"] = {"vendor": "qwen", "api_key": "sk-q2", "base_url": f"{emulator.url}/qwen"}
        cfg["routes"]["embed"]["candidates"].append({"provider": "qwen-b", "model": "text-embedding-v3"})

    gw = await make_gateway(edit)
    r = await gw.client().embeddings.with_raw_response.create(model="embed", input="你好", encoding_format="base64")
    assert r.headers["x-qiao-provider"] == "qwen-b" and r.parse().data[0].embedding
    assert _failures(logs) == ["malformed_response"]
    _one_done(logs)


@pytest.mark.parametrize(("behaviour", "levels"), [("deep", 5000), ("deep", 100000), ("text", 0)])
async def test_a_batch_api_reply_no_decoder_reads_is_a_502(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]], behaviour: str, levels: int
) -> None:
    """A vendor's batch API answering an upload with JSON nested ``levels`` deep (or with no JSON) gives the client
    an OpenAI-style 502 naming the provider, not a 500."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["qwen"]["base_url"] = f"{hostile}/{behaviour}/{levels}"
        cfg["routes"]["bq"] = {"strategy": "priority", "candidates": [{"provider": "qwen", "model": "qwen-plus"}]}

    gw = await make_gateway(edit)
    line = {"custom_id": "c0", "method": "POST", "url": "/v1/chat/completions", "body": {**CHAT, "model": "bq"}}
    with pytest.raises(openai.APIStatusError) as e:
        await gw.client().files.create(file=("in.jsonl", (json.dumps(line) + "\n").encode()), purpose="batch")
    assert e.value.status_code == 502 and "qwen: not a JSON object" in e.value.message
    _one_done(logs)


NEGATIVE = ["prompt_tokens", "completion_tokens", "cached_tokens"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("where", NEGATIVE)
async def test_a_negative_token_count_is_served_and_booked_on_an_estimate(
    make_gateway: GatewayFactory,
    emulator: EmulatorHandle,
    hostile: str,
    logs: list[dict[str, Any]],
    where: str,
    stream: bool,
) -> None:
    """A reply (or a stream's one chunk) whose usage says ``where: -5`` is the answer, served by the upstream asked,
    asked once (no failover: it would pay twice); booked once on an estimate, no negative count reaching the ledger
    or the metrics; one ``request_done``."""
    gw = await make_gateway(_first(hostile, f"negative-{where}", 5))
    r = await gw.client().chat.completions.with_raw_response.create(**CHAT, stream=stream)  # type: ignore[call-overload]
    content = "".join([c.choices[0].delta.content or "" async for c in r.parse() if c.choices] if stream else
                      [r.parse().choices[0].message.content])  # fmt: skip
    assert r.headers["x-qiao-provider"] == "ds-a" and content == "好"
    assert not _failures(logs)
    await called_once(hostile, f"negative-{where}/5", emulator)
    await booked_once_on_an_estimate(gw, _one_done(logs))


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("where", NEGATIVE)
async def test_a_negative_token_count_with_no_other_candidate_is_served(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]], where: str, stream: bool
) -> None:
    """On a route of one candidate, a reply (or first chunk) counting ``where: -5`` is the answer (it was a 502):
    served, booked once on an estimate, one ``request_done``."""
    gw = await make_gateway(_first(hostile, f"negative-{where}", 5))
    got = await gw.client().chat.completions.create(model="solo", messages=CHAT["messages"], stream=stream)
    content = "".join([c.choices[0].delta.content or "" async for c in got if c.choices] if stream else
                      [got.choices[0].message.content])  # fmt: skip
    assert content == "好"
    assert not _failures(logs)
    await booked_once_on_an_estimate(gw, _one_done(logs), route="solo")


@pytest.mark.parametrize("where", NEGATIVE)
async def test_a_negative_count_in_a_streams_usage_chunk_ends_it_as_the_vendor_did(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, hostile: str, logs: list[dict[str, Any]], where: str
) -> None:
    """A stream whose usage chunk (after the answer) counts ``where: -5`` ends as the vendor ended it, with
    ``[DONE]`` (it was the gateway's error event after the whole answer): the client has the answer and the usage
    chunk it asked for; booked once on an estimate, never the negative count; one ``request_done``. (What that
    chunk's usage says: :mod:`tests.balancer.test_usage_relayed`.)"""
    gw = await make_gateway(_first(hostile, f"negative-last-{where}", 5))
    stream = await gw.client().chat.completions.create(
        model="chat", messages=CHAT["messages"], stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert [d.delta.content for c in chunks for d in c.choices] == ["好"]
    assert chunks[-1].usage is not None and not chunks[-1].choices  # the estimate booked, in the vendor's chunk
    assert not _failures(logs) and not _failures(logs, "stream_failed")
    done = _one_done(logs)
    assert done["stream_end"] == "done"
    await called_once(hostile, f"negative-last-{where}/5", emulator)
    await booked_once_on_an_estimate(gw, done)
