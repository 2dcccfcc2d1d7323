"""Shared steps for the per-vendor conformance tests: one vendor account (``v``) on its emulator dialect,
an OpenAI account (``backup``, gpt-4.1, 1M context) behind it, driven through the real gateway with
the real ``openai`` SDK."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import openai
import pytest
import structlog

from balancer.vendors import REGISTRY
from tests.conftest import ADMIN_KEY, EmulatorHandle, GatewayFactory, GatewayHandle, auth

MESSAGES: list[Any] = [{"role": "user", "content": "你好，请介绍一下杭州。"}]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]


@dataclass
class Case:
    vendor: str
    model: str
    key: str = "sk-vendor-test"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return self.vendor


def edit_for(case: Case) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        emu = raw["providers"]["ds-a"]["base_url"].rsplit("/", 1)[0]
        raw["providers"]["v"] = {
            "vendor": case.vendor,
            "api_key": case.key,
            "base_url": f"{emu}/{case.target}",
            "extra": case.extra,
        }
        raw["providers"]["backup"] = {"vendor": "openai", "api_key": "sk-b", "base_url": f"{emu}/openai.backup"}
        raw["routes"]["v"] = {
            "candidates": [{"provider": "v", "model": case.model}, {"provider": "backup", "model": "gpt-4.1"}]
        }
        raw["routes"]["v-only"] = {"candidates": [{"provider": "v", "model": case.model}]}

    return edit


async def gateway(make_gateway: GatewayFactory, case: Case) -> GatewayHandle:
    gw: GatewayHandle = await make_gateway(edit_for(case))
    return gw


async def chat(gw: GatewayHandle) -> None:
    raw = await gw.client().chat.completions.with_raw_response.create(model="v-only", messages=MESSAGES)
    reply = raw.parse()
    assert raw.headers["x-qiao-provider"] == "v"
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.total_tokens > 0


async def stream(gw: GatewayHandle) -> None:
    """A stream ends cleanly and the gateway finds the vendor's usage wherever the dialect puts it."""
    with structlog.testing.capture_logs() as logs:
        chunks = await gw.client().chat.completions.create(model="v-only", messages=MESSAGES, stream=True)
        text, finish = "", None
        async for chunk in chunks:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
        done = await request_done(logs)
    assert text and finish == "stop"
    assert done["stream_end"] == "done" and done["tokens"]["completion"] > 0 and "estimated" not in done["tokens"]


async def request_done(logs: list[dict[str, Any]]) -> dict[str, Any]:
    """The request's request_done log line (logged after the last byte, once the upstream is drained: within
    streams.DRAIN_S of it; polled for up to 10 s)."""
    for _ in range(2000):
        done = next((e for e in logs if e["event"] == "request_done"), None)
        if done is not None:
            return done
        await asyncio.sleep(0.005)
    raise AssertionError("no request_done line")


async def tools(gw: GatewayHandle) -> None:
    reply = await gw.client().chat.completions.create(model="v-only", messages=MESSAGES, tools=TOOLS)
    calls = reply.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "search"


async def tool_loop(gw: GatewayHandle) -> list[Any]:
    """A tool loop's history as a client that keeps an assistant message's content and tool_calls alone sends it
    back (LangChain's ChatOpenAI, many agents): the gateway's tool call, the tool's result, the turn's answer and the
    user's next question."""
    reply = await gw.client().chat.completions.create(model="v-only", messages=MESSAGES, tools=TOOLS)
    message = reply.choices[0].message
    assert message.tool_calls
    calls = [c.model_dump() for c in message.tool_calls]
    return [
        *MESSAGES,
        {"role": "assistant", "content": message.content, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "杭州：晴，25度"},
        {"role": "assistant", "content": "杭州今天晴，25度。"},
        {"role": "user", "content": "明天呢？"},
    ]


async def served_by(gw: GatewayHandle) -> str:
    raw = await gw.client().chat.completions.with_raw_response.create(model="v", messages=MESSAGES)
    return str(raw.headers["x-qiao-provider"])


async def fault(gw: GatewayHandle, emulator: EmulatorHandle, case: Case, kind: str) -> str | None:
    """Inject one fault into the vendor; return the provider that served, or None when the client got an error."""
    store, model = gw.gw.store, case.model
    await store.clear("v", "")
    await store.clear(f"v/{model}", "")
    await emulator.fault(case.target, kind, count=1)
    try:
        return await served_by(gw)
    except openai.BadRequestError:
        return None


def reason(gw: GatewayHandle, case: Case) -> str:
    return gw.gw.store.health("v", case.model, gw.clock()).reason


async def errors(gw: GatewayHandle, emulator: EmulatorHandle, case: Case) -> None:
    """Every dialect error has its consequence: fail over + cooldown/disable (a missing model: that model on that
    account only), or back to the client."""
    assert await fault(gw, emulator, case, "rate_limit") == "backup"
    assert reason(gw, case) == "cooldown:rate_limited"
    assert await fault(gw, emulator, case, "balance_exhausted") == "backup"
    assert reason(gw, case) == "cooldown:quota_exhausted"
    assert await fault(gw, emulator, case, "auth") == "backup"
    assert reason(gw, case) == "cooldown:auth_failed"
    assert await fault(gw, emulator, case, "server_error") == "backup"
    assert await fault(gw, emulator, case, "model_unavailable") == "backup"
    assert reason(gw, case) == "cooldown:model_unavailable"
    assert gw.gw.store.health("v", "another-model", gw.clock()).available  # that model only, not the account
    assert await fault(gw, emulator, case, "context_length") == "backup"  # a larger window
    before = await emulator.requests("openai.backup")
    assert await fault(gw, emulator, case, "content_filter") is None
    assert await fault(gw, emulator, case, "bad_request") is None
    assert await emulator.requests("openai.backup") == before  # the client's own errors never fail over
    await emulator.clear()


async def wrong_key(gw: GatewayHandle, emulator: EmulatorHandle, case: Case) -> None:
    """The emulator checks the vendor's auth and answers its own 401 body, which disables the account."""
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{emulator.url}/_emulator/keys", json={"target": case.target, "key": "other"}) as r,
    ):
        assert r.status == 200
    assert await served_by(gw) == "backup"
    assert reason(gw, case) == "cooldown:auth_failed"


async def refresh(gw: GatewayHandle) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{gw.url}/admin/balances/refresh", headers=auth(ADMIN_KEY)) as r,
    ):
        assert r.status == 200, await r.text()
        data: dict[str, Any] = (await r.json())["balances"]
        return data


async def balance(gw: GatewayHandle, emulator: EmulatorHandle, case: Case) -> None:
    """The balance poll keeps granted and paid apart, disables an empty account and brings it back on top-up."""
    await emulator.limits(case.target, granted=3.5, paid=20.0)
    got = (await refresh(gw))["v"]
    assert got["granted"] == pytest.approx(3.5) and got["paid"] == pytest.approx(20.0)
    assert got["total"] == pytest.approx(23.5)
    await emulator.limits(case.target, granted=0.0, paid=0.0)
    assert (await refresh(gw))["v"]["total"] == 0
    assert reason(gw, case) == "cooldown:quota_exhausted"
    assert await served_by(gw) == "backup"
    await emulator.limits(case.target, paid=5.0)
    await refresh(gw)
    assert gw.gw.store.health("v", case.model, gw.clock()).available
    assert await served_by(gw) == "v"


async def no_balance(gw: GatewayHandle, case: Case) -> None:
    """A vendor without a balance API is never polled (documented as none)."""
    assert REGISTRY[case.vendor].balance is None
    assert "v" not in await refresh(gw)


async def dropped(gw: GatewayHandle, fields: dict[str, Any]) -> list[str]:
    """What request_done says was adjusted when ``fields`` (messages too, else MESSAGES) are sent to the vendor-only
    route."""
    with structlog.testing.capture_logs() as logs:
        await gw.client().chat.completions.create(model="v-only", **{"messages": MESSAGES, **fields})
        done = await request_done(logs)
    return list(done.get("adjusted", []))
