"""The clients of the matrix, each running the same five scenarios against a gateway the way its users do.

Scenarios (every client, in this order): ``chat`` (one answer), ``stream``, ``tools`` (a tool call comes
back), ``failover`` (a stream whose first candidate fails before its first event) and ``cut`` (a stream the
upstream cuts mid-answer: the client must see an error, never a clean end). Each driver returns
{scenario: result}: "ok", "tool_calls" or "error".
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import openai

SCENARIOS = ("chat", "stream", "tools", "failover", "cut")
EXPECTED = {"chat": "ok", "stream": "ok", "tools": "tool_calls", "failover": "ok", "cut": "error"}
NODE_DIR = Path(__file__).parent / "node"
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look something up",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
}


def _msgs(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def openai_sync(base: str, key: str) -> dict[str, str]:
    """The synchronous openai SDK (the most common client): it closes a stream's connection right after [DONE]."""
    c = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=20)

    def stream(model: str, text: str) -> str:
        s = c.chat.completions.create(model=model, messages=_msgs(text), stream=True)
        content = "".join(ch.choices[0].delta.content or "" for ch in s if ch.choices)
        return "ok" if content else "empty"

    def tools() -> str:
        r = c.chat.completions.create(model="chat", messages=_msgs("查一下天气"), tools=[TOOL])
        return "tool_calls" if r.choices[0].message.tool_calls else "no_tool_calls"

    def chat() -> str:
        r = c.chat.completions.create(model="chat", messages=_msgs("你好，同步"))
        return "ok" if r.choices[0].message.content else "empty"

    runs: dict[str, Callable[[], str]] = {
        "chat": chat,
        "stream": lambda: stream("chat", "流式，同步"),
        "tools": tools,
        "failover": lambda: stream("fo", "故障转移，同步"),
        "cut": lambda: stream("cut", "中途断开，同步"),
    }
    try:
        return {name: _guard(run) for name, run in runs.items()}
    finally:
        c.close()


async def openai_async(base: str, key: str) -> dict[str, str]:
    """The asyncio openai SDK."""
    c = openai.AsyncOpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=20)

    async def stream(model: str, text: str) -> str:
        s = await c.chat.completions.create(model=model, messages=_msgs(text), stream=True)
        content = [ch.choices[0].delta.content or "" async for ch in s if ch.choices]
        return "ok" if "".join(content) else "empty"

    async def tools() -> str:
        r = await c.chat.completions.create(model="chat", messages=_msgs("查一下天气"), tools=[TOOL])
        return "tool_calls" if r.choices[0].message.tool_calls else "no_tool_calls"

    async def chat() -> str:
        r = await c.chat.completions.create(model="chat", messages=_msgs("你好，异步"))
        return "ok" if r.choices[0].message.content else "empty"

    runs: dict[str, Callable[[], Awaitable[str]]] = {
        "chat": chat,
        "stream": lambda: stream("chat", "流式，异步"),
        "tools": tools,
        "failover": lambda: stream("fo", "故障转移，异步"),
        "cut": lambda: stream("cut", "中途断开，异步"),
    }
    try:
        return {name: await _aguard(run) for name, run in runs.items()}
    finally:
        await c.close()


def langchain(base: str, key: str) -> dict[str, str]:
    """LangChain's ChatOpenAI: ``invoke``, ``.stream()`` and ``bind_tools``."""
    from langchain_openai import ChatOpenAI

    def llm(model: str) -> ChatOpenAI:
        return ChatOpenAI(base_url=base + "/v1", api_key=key, model=model, max_retries=0, timeout=20)

    def stream(model: str, text: str) -> str:
        content = "".join(str(chunk.content) for chunk in llm(model).stream(text))
        return "ok" if content else "empty"

    def tools() -> str:
        msg = llm("chat").bind_tools([TOOL]).invoke("查一下天气")
        return "tool_calls" if getattr(msg, "tool_calls", None) else "no_tool_calls"

    runs: dict[str, Callable[[], str]] = {
        "chat": lambda: "ok" if llm("chat").invoke("你好，LangChain").content else "empty",
        "stream": lambda: stream("chat", "流式，LangChain"),
        "tools": tools,
        "failover": lambda: stream("fo", "故障转移，LangChain"),
        "cut": lambda: stream("cut", "中途断开，LangChain"),
    }
    return {name: _guard(run) for name, run in runs.items()}


async def httpx_raw(base: str, key: str) -> dict[str, str]:
    """httpx by hand: JSON bodies and a line-by-line SSE read, as scripts without an SDK do."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=20) as c:

        async def stream(model: str, text: str) -> str:
            body = {"model": model, "messages": _msgs(text), "stream": True}
            async with c.stream("POST", "/v1/chat/completions", json=body) as r:
                lines = [line async for line in r.aiter_lines()]
            return _sse_result(r.status_code, lines)

        async def call(text: str, **extra: Any) -> str:
            r = await c.post("/v1/chat/completions", json={"model": "chat", "messages": _msgs(text), **extra})
            return _json_result(r.status_code, r.json())

        return {
            "chat": await call("你好，httpx"),
            "stream": await stream("chat", "流式，httpx"),
            "tools": await call("查一下天气", tools=[TOOL]),
            "failover": await stream("fo", "故障转移，httpx"),
            "cut": await stream("cut", "中途断开，httpx"),
        }


def curl(base: str, key: str) -> dict[str, str]:
    """curl, as in the README: ``-N`` for streams."""

    def run(body: dict[str, Any]) -> tuple[int, str]:
        cmd = ["curl", "-sS", "-N", "-w", "\n%{http_code}", "-H", f"Authorization: Bearer {key}"]
        cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body), base + "/v1/chat/completions"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout
        text, _, code = out.rpartition("\n")
        return int(code or 0), text

    def call(text: str, **extra: Any) -> str:
        code, out = run({"model": "chat", "messages": _msgs(text), **extra})
        return _json_result(code, json.loads(out))

    def stream(model: str, text: str) -> str:
        code, out = run({"model": model, "messages": _msgs(text), "stream": True})
        return _sse_result(code, out.splitlines())

    return {
        "chat": call("你好，curl"),
        "stream": stream("chat", "流式，curl"),
        "tools": call("查一下天气", tools=[TOOL]),
        "failover": stream("fo", "故障转移，curl"),
        "cut": stream("cut", "中途断开，curl"),
    }


async def node(base: str, key: str) -> dict[str, str]:
    """The official openai Node SDK (npm), one process for the five scenarios."""
    proc = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / "matrix.mjs"), base + "/v1", key, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return {d["scenario"]: d["result"] for d in map(json.loads, out.decode().splitlines())}


def _guard(run: Callable[[], str]) -> str:
    try:
        return run()
    except openai.APIError:
        return "error"


async def _aguard(run: Callable[[], Awaitable[str]]) -> str:
    try:
        return await run()
    except openai.APIError:
        return "error"


def _json_result(status: int, body: dict[str, Any]) -> str:
    if status != 200:
        return "error"
    return "tool_calls" if body["choices"][0]["message"].get("tool_calls") else "ok"


def _sse_result(status: int, lines: list[str]) -> str:
    """ "ok" for a stream that delivered content and ended with [DONE]; "error" for an error status or event."""
    data = [line[5:].strip() for line in lines if line.startswith("data:")]
    if status != 200 or any('"error"' in d for d in data):
        return "error"
    content = "".join(
        (c.get("delta") or {}).get("content") or "" for d in data if d != "[DONE]" for c in json.loads(d)["choices"]
    )
    return "ok" if content and data[-1:] == ["[DONE]"] else "truncated"
