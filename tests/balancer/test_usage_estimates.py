"""A served answer whose vendor reported no usable usage — none at all, or counts that are no token counts (below 0,
beyond 2**32, more digits than any decoder reads) — is still the client's answer, from the first candidate asked:
it is booked once, on an estimate marked as such (the ledger, the ``request_done`` line, the metrics), and an
unreadable count is logged as a warning naming the request, the provider and the count, never a huge value.
Asked with the official ``openai`` SDK, async and sync (in a thread), streamed and not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import openai
import pytest
import structlog

from tests.balancer import hostile_upstream
from tests.balancer.test_metrics import scrape, value
from tests.conftest import CHAT, EmulatorHandle, GatewayFactory, GatewayHandle


@pytest.fixture
async def hostile() -> AsyncIterator[str]:
    async for url in hostile_upstream.serve():
        yield url


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured


async def _gateway(make_gateway: GatewayFactory, hostile: str, path: str) -> GatewayHandle:
    """A gateway whose route ``chat`` asks ``ds-a`` (the hostile upstream at ``path``) first; ``ds-b`` and ``qwen``
    (the emulator) are healthy."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["base_url"] = f"{hostile}/{path}"

    handle: GatewayHandle = await make_gateway(edit)
    return handle


async def ask(gw: GatewayHandle, sync: bool, stream: bool) -> tuple[str, str]:
    """The answer's text and the provider that served it, asked with the SDK's async client or its sync one."""
    if sync:
        return await asyncio.to_thread(_ask_sync, gw.sync_client(), stream)
    r = await gw.client().chat.completions.with_raw_response.create(**CHAT, stream=stream)  # type: ignore[call-overload]
    if stream:
        text = "".join([c.choices[0].delta.content or "" async for c in r.parse() if c.choices])
    else:
        text = r.parse().choices[0].message.content or ""
    return text, r.headers["x-qiao-provider"]


def _ask_sync(client: openai.OpenAI, stream: bool) -> tuple[str, str]:
    r = client.chat.completions.with_raw_response.create(**CHAT, stream=stream)  # type: ignore[call-overload]
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in r.parse() if c.choices)
    else:
        text = r.parse().choices[0].message.content or ""
    return text, r.headers["x-qiao-provider"]


def one_done(logs: list[dict[str, Any]]) -> dict[str, Any]:
    """The request's one request_done line, served (and no failed attempt, no unhandled error anywhere)."""
    assert not [e for e in logs if e["event"] in ("unhandled_error", "upstream_failed", "stream_failed")], logs
    done = [e for e in logs if e["event"] == "request_done"]
    assert len(done) == 1 and done[0]["status"] == 200, done
    return done[0]


async def called_once(hostile: str, path: str, emulator: EmulatorHandle) -> None:
    """The hostile upstream got the request once; no other candidate got it (no failover, no retry)."""
    async with aiohttp.ClientSession() as http, http.get(f"{hostile}/_calls") as r:
        calls = await r.json()
    assert calls == {path: 1}, calls
    assert await emulator.requests("deepseek.b") == 0 and await emulator.requests("qwen") == 0


async def booked_once_on_an_estimate(gw: GatewayHandle, done: dict[str, Any], provider: str = "ds-a") -> None:
    """One request booked, on ``provider`` only, marked estimated, its tokens those of ``request_done``; /metrics
    counts the same tokens (and can be read: no count it cannot hold)."""
    tokens = done["tokens"]
    assert tokens["estimated"] is True and tokens["prompt"] > 0 and tokens["completion"] > 0, tokens
    snap = await gw.gw.ledger.snapshot(gw.clock())
    rows = [r for r in snap.rows if r.requests or r.tokens or r.micro]
    assert {r.provider for r in rows} == {provider}, rows
    assert (sum(r.requests for r in rows), sum(r.estimated for r in rows)) == (1, 1), rows
    assert sum(r.tokens for r in rows) == tokens["prompt"] + tokens["completion"], rows
    assert all(r.micro >= 0 for r in rows), rows
    async with aiohttp.ClientSession() as http:
        m = await scrape(http, gw.url)
    served = [value(m, "qiao_tokens_total", provider=provider, route="chat", client="tests", kind=k)
              for k in ("prompt", "completion")]  # fmt: skip
    assert served == [tokens["prompt"], tokens["completion"]]


@pytest.mark.parametrize("stream", [False, True], ids=["reply", "stream"])
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_an_answer_without_usage_is_booked_once_on_an_estimate(
    make_gateway: GatewayFactory,
    emulator: EmulatorHandle,
    hostile: str,
    logs: list[dict[str, Any]],
    sync: bool,
    stream: bool,
) -> None:
    """A reply (or a stream) that reports no usage is served and booked once on an estimate, marked as such: the
    prompt from the request's size, the completion from the answer's (a reply was not booked at all before)."""
    path = "no-usage/0"
    gw = await _gateway(make_gateway, hostile, path)
    assert await ask(gw, sync, stream) == ("好", "ds-a")
    await called_once(hostile, path, emulator)
    await booked_once_on_an_estimate(gw, one_done(logs))
