"""What a client reads when the vendor's usage is no token counts (below 0, beyond 2**32, more digits than any decoder
reads): the vendor's reply or chunk with the estimate the gateway booked in place of that usage, nothing else
changed, so every client parses it and reads what was booked. A stream's usage chunk carries the estimate made as it
passes (from the request and the payloads so far, that chunk's included), which is what the stream is booked on.
Moonshot's usage inside a choice is lifted to OpenAI's usage chunk the same way. Asked with the official ``openai``
SDK, async and sync (in a thread), and the Node SDK; streamed and not; the upstream asked once, no failover. (Before,
the vendor's bytes were relayed as they came: the Python SDK raised on 5000 digits, Node read 1e+30 or Infinity.)"""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import aiohttp
import openai
import pytest

from balancer import replies, shapes
from tests.balancer import hostile_upstream
from tests.balancer.clients.drivers import NODE_DIR
from tests.balancer.test_usage_estimates import COUNTS, _gateway, booked_once_on_an_estimate, called_once, one_done
from tests.conftest import CHAT, CLIENT_KEY, EmulatorHandle, GatewayFactory, GatewayHandle, auth


def booked(done: dict[str, Any]) -> dict[str, int]:
    """The usage the request was booked on (its ``request_done`` tokens), as OpenAI writes usage."""
    prompt, completion = done["tokens"]["prompt"], done["tokens"]["completion"]
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _ask(client: openai.AsyncOpenAI, model: str, stream: bool) -> tuple[str, list[Any], Any]:
    """The answer's text, its stream chunks (none for a reply) and what the SDK parsed last (the reply, or the
    last chunk)."""
    if not stream:
        reply = await client.chat.completions.create(model=model, messages=CHAT["messages"])
        return reply.choices[0].message.content or "", [], reply
    s = await client.chat.completions.create(
        model=model, messages=CHAT["messages"], stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in s]
    return "".join(d.delta.content or "" for c in chunks for d in c.choices), chunks, chunks[-1]


def _ask_sync(client: openai.OpenAI, model: str, stream: bool) -> tuple[str, list[Any], Any]:
    if not stream:
        reply = client.chat.completions.create(model=model, messages=CHAT["messages"])  # type: ignore[arg-type]
        return reply.choices[0].message.content or "", [], reply
    s = client.chat.completions.create(
        model=model,
        messages=CHAT["messages"],  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(s)
    return "".join(d.delta.content or "" for c in chunks for d in c.choices), chunks, chunks[-1]


async def ask(gw: GatewayHandle, model: str, sync: bool, stream: bool) -> tuple[str, list[Any], Any]:
    if sync:
        return await asyncio.to_thread(_ask_sync, gw.sync_client(), model, stream)
    return await _ask(gw.client(), model, stream)


# Streamed, the usage comes in its own chunk after the answer (OpenAI's place).
PATHS = {case: path.replace("-last-", "-") for case, (path, _, _) in COUNTS.items()}


@pytest.mark.parametrize("stream", [False, True], ids=["reply", "stream"])
@pytest.mark.parametrize("case", list(COUNTS))
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_the_client_reads_the_usage_that_was_booked(
    make_gateway: GatewayFactory,
    emulator: EmulatorHandle,
    hostile: str,
    logs: list[dict[str, Any]],
    sync: bool,
    case: str,
    stream: bool,
) -> None:
    """A reply (or a stream's usage chunk, asked with include_usage) whose usage has a count below 0, beyond 2**32
    or of 5000 digits reaches the SDK with the estimate booked as its usage: the SDK parses the whole answer and
    reads what the ledger booked; the rest is the vendor's (id, object, choices), from the first candidate, asked
    once."""
    path = COUNTS[case][0] if stream else PATHS[case]
    gw = await _gateway(make_gateway, hostile, path)
    text, chunks, last = await ask(gw, "chat", sync, stream)
    assert text == "好"
    await called_once(hostile, path, emulator)
    done = one_done(logs)
    await booked_once_on_an_estimate(gw, done)
    assert last.usage.model_dump(exclude_none=True) == booked(done)
    if stream:
        assert [c.model_dump(exclude_none=True) for c in chunks[:-1]] == [hostile_upstream.CHUNK]
        assert (last.id, last.object, last.choices) == ("c", "chat.completion.chunk", [])
    else:
        assert last.model_dump(exclude_none=True) == {**hostile_upstream.REPLY, "usage": booked(done)}


CHOICE_PATHS = ["negative-choice-prompt_tokens/5", *(f"digits-choice-total_tokens/{n}" for n in (30, 400, 5000))]


@pytest.mark.parametrize("path", CHOICE_PATHS)
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_an_unreadable_count_inside_a_choice_is_lifted_as_booked(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]], sync: bool, path: str
) -> None:
    """Moonshot's stream, whose usage rides inside its last chunk's choice, counting -5 or 30, 400 or 5000 digits:
    a client that asked include_usage gets the answer's chunks, then OpenAI's usage chunk holding the estimate
    booked (before, 400 and 5000 digits were not lifted, and 30 were lifted as 1e+30)."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["kimi"]["base_url"] = f"{hostile}/{path}"

    gw = await make_gateway(edit)
    text, chunks, last = await ask(gw, "kimi", sync, True)
    assert text == "好"
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None, "stop"]
    assert not [c for c in chunks[:-1] if c.usage is not None or "usage" in (c.choices[0].model_extra or {})]
    done = one_done(logs)
    assert done["stream_end"] == "done"
    await booked_once_on_an_estimate(gw, done, "kimi", "kimi")
    assert not last.choices and last.usage.model_dump(exclude_none=True) == booked(done)


@pytest.mark.parametrize("path", CHOICE_PATHS)
async def test_an_unreadable_count_inside_a_choice_stays_there_as_booked(
    make_gateway: GatewayFactory, hostile: str, logs: list[dict[str, Any]], path: str
) -> None:
    """Moonshot's stream asked without include_usage goes as Moonshot sends it, its usage inside the last choice:
    that usage is the estimate booked, every other field the vendor's (read raw, as SSE)."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["kimi"]["base_url"] = f"{hostile}/{path}"

    gw = await make_gateway(edit)
    async with (
        aiohttp.ClientSession() as http,
        http.post(gw.url + "/v1/chat/completions", json={**CHAT, "model": "kimi", "stream": True}, headers=auth()) as r,
    ):
        events = (await r.read()).decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    done = one_done(logs)
    choice = {"index": 0, "delta": {}, "finish_reason": "stop", "usage": booked(done)}
    assert chunks == [hostile_upstream.CHUNK, {"id": "c", "object": "chat.completion.chunk", "choices": [choice]}]


@pytest.mark.parametrize("stream", [False, True], ids=["reply", "stream"])
@pytest.mark.parametrize("case", ["negative", "30-digits", "5000-digits"])
async def test_the_node_sdk_reads_the_usage_that_was_booked(
    make_gateway: GatewayFactory,
    emulator: EmulatorHandle,
    hostile: str,
    logs: list[dict[str, Any]],
    case: str,
    stream: bool,
) -> None:
    """The official Node SDK (JSON.parse: 30 digits read as 1e+30, 5000 as Infinity) reads the answer and the usage
    the ledger booked, from a reply or a stream asking include_usage."""
    path = COUNTS[case][0] if stream else PATHS[case]
    gw = await _gateway(make_gateway, hostile, path)
    proc = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / "usage.mjs"), gw.url + "/v1", CLIENT_KEY, "chat", "stream" if stream else "reply",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    await called_once(hostile, path, emulator)
    done = one_done(logs)
    await booked_once_on_an_estimate(gw, done)
    assert json.loads(out) == {"text": "好", "usage": booked(done)}


ESTIMATE = replies.Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7)
COUNTED = b'{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}'


def test_only_the_usage_is_replaced() -> None:
    """Every usage a reply holds (at the top, in a choice) becomes the estimate's three counts; every other value
    goes as the vendor wrote it: a 30-digit number, 1.0e400, escapes, the key order, a choice's null usage."""
    head = b'{"id": "x\\u00e9", "created": 123456789012345678901234567890, "choices": [{"index": 0, '
    choice = b'"delta": {"content": "\\ud83d\\ude00"}, "usage": {"prompt_tokens": -5}}, {"index": 1, "usage": null}]'
    reply = head + choice + b', "usage": {"prompt_tokens": ' + b"9" * 5000 + b'}, "extra": [1.0e400, {}]}'
    assert shapes.with_usage(reply, ESTIMATE) == (
        b'{"id":"x\\u00e9","created":123456789012345678901234567890,"choices":[{"index":0,'
        b'"delta":{"content": "\\ud83d\\ude00"},"usage":' + COUNTED + b'},{"index":1,"usage":null}],'
        b'"usage":' + COUNTED + b',"extra":[1.0e400, {}]}'
    )


def test_a_lifted_usage_chunk_keeps_the_vendors_numbers() -> None:
    """Moonshot's usage lifted to OpenAI's usage chunk: the head fields and the usage as the vendor wrote them (a
    30-digit ``created`` stays 30 digits: orjson, which lifted it before, read it as 1e+30)."""
    chunk = b'{"id": "c", "created": 123456789012345678901234567890, "model": "m", "choices": [{"index": 0, '
    chunk += b'"finish_reason": "stop", "usage": {"prompt_tokens": 1, "total_tokens": 1}}]}'
    assert shapes.usage_chunk(chunk) == (
        b'{"id":"c","created":123456789012345678901234567890,"model":"m","choices":[{"index":0,"finish_reason":"stop"}]}',
        b'{"id":"c","created":123456789012345678901234567890,"model":"m","choices":[],'
        b'"usage":{"prompt_tokens": 1, "total_tokens": 1}}',
    )
