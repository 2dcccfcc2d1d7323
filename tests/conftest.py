"""Shared fixtures: a real vendor emulator and a real gateway on free ports, a virtual clock."""

from __future__ import annotations

import asyncio
import copy
import random
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from balancer import config as config_mod
from balancer.app import GATEWAY, make_app, make_runner
from balancer.emulator import Emulator
from balancer.emulator import make_app as make_emulator_app
from balancer.gateway import Gateway
from balancer.state import StateStore
from tests.redis_server import RedisServer

CLIENT_KEY = "sk-test-client-0123456789"
ADMIN_KEY = "sk-test-admin-0123456789"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for the session (tests flush it); killable ones start their own."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
async def redis_url(redis_server: RedisServer) -> str:
    """The private server's URL, flushed for this test."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushall()
    await client.aclose()
    return redis_server.url


class Clock:
    """A virtual wall clock: tests move time forward instead of sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class EmulatorHandle:
    def __init__(self, url: str, emu: Emulator, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.emu = emu
        self._session = session

    async def fault(self, target: str, fault: str, **kw: Any) -> None:
        async with self._session.post(
            f"{self.url}/_emulator/faults", json={"target": target, "fault": fault, **kw}
        ) as r:
            assert r.status == 200, await r.text()

    async def clear(self) -> None:
        async with self._session.delete(f"{self.url}/_emulator/faults") as r:
            assert r.status == 200

    async def limits(self, target: str, **kw: Any) -> None:
        async with self._session.post(f"{self.url}/_emulator/limits", json={"target": target, **kw}) as r:
            assert r.status == 200, await r.text()

    async def stats(self) -> dict[str, Any]:
        async with self._session.get(f"{self.url}/_emulator/stats") as r:
            data: dict[str, Any] = await r.json()
            return data["targets"]

    def record_bodies(self) -> list[dict[str, Any]]:
        """From now on, every request body the emulator receives is appended to the returned list."""
        seen: list[dict[str, Any]] = []
        original = self.emu._answer

        async def spy(t: Any, tail: str, body: dict[str, Any], request: web.Request) -> web.StreamResponse:
            seen.append(body)
            return await original(t, tail, body, request)

        self.emu._answer = spy  # type: ignore[method-assign]
        return seen

    async def requests(self, target: str) -> int:
        return int((await self.stats()).get(target, {}).get("requests", 0))


async def wait_ready(http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]) -> None:
    """Wait until a gateway process answers /healthz (failing at once if it exits)."""
    for _ in range(300):
        assert proc.poll() is None, "gateway exited"
        try:
            async with http.get(url + "/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("gateway did not start")


async def start_site(app: web.Application, **runner_kw: Any) -> tuple[web.AppRunner, str]:
    return await start_runner(web.AppRunner(app, access_log=None, **runner_kw))


async def start_runner(runner: web.AppRunner) -> tuple[web.AppRunner, str]:
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorHandle]:
    emu = Emulator(chunk_delay_ms=0.0, reply_tokens=8, seed=1)
    runner, url = await start_site(make_emulator_app(emu), handler_cancellation=True, shutdown_timeout=0.2)
    async with aiohttp.ClientSession() as session:
        yield EmulatorHandle(url, emu, session)
    await runner.cleanup()


def base_config(emu_url: str) -> dict[str, Any]:
    """A small config: two DeepSeek-like accounts and a Qwen one, all on the emulator."""
    return {
        "client_keys": [{"name": "tests", "key_sha256": config_mod.hash_key(CLIENT_KEY)}],
        "admin_keys": [{"name": "ops", "key_sha256": config_mod.hash_key(ADMIN_KEY)}],
        "providers": {
            "ds-a": {"vendor": "deepseek", "api_key": "sk-a", "base_url": f"{emu_url}/deepseek.a"},
            "ds-b": {"vendor": "deepseek", "api_key": "sk-b", "base_url": f"{emu_url}/deepseek.b"},
            "qwen": {"vendor": "qwen", "api_key": "sk-q", "base_url": f"{emu_url}/qwen"},
            "kimi": {"vendor": "kimi", "api_key": "sk-k", "base_url": f"{emu_url}/kimi"},
        },
        "routes": {
            "chat": {
                "strategy": "priority",
                "candidates": [
                    {"provider": "ds-a", "model": "deepseek-chat"},
                    {"provider": "ds-b", "model": "deepseek-chat"},
                    {"provider": "qwen", "model": "qwen-plus"},
                ],
            },
            "solo": {"strategy": "priority", "candidates": [{"provider": "ds-a", "model": "deepseek-chat"}]},
            "kimi": {"strategy": "priority", "candidates": [{"provider": "kimi", "model": "moonshot-v1-8k"}]},
            "embed": {
                "kind": "embeddings",
                "strategy": "priority",
                "candidates": [{"provider": "qwen", "model": "text-embedding-v3"}],
            },
        },
        "timeouts": {"connect_s": 2, "ttft_s": 1.0, "idle_s": 0.5, "total_s": 1.5},
        "failover": {"max_attempts": 3, "deadline_s": 10},
    }


class GatewayHandle:
    def __init__(self, url: str, gw: Gateway, clock: Clock, app: web.Application | None = None) -> None:
        self.url = url
        self.gw = gw
        self.clock = clock
        self.app = app
        self.clients: list[openai.AsyncOpenAI | openai.OpenAI] = []

    def client(self, key: str = CLIENT_KEY, timeout: float = 15) -> openai.AsyncOpenAI:
        c = openai.AsyncOpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=timeout)
        self.clients.append(c)
        return c

    def sync_client(self, key: str = CLIENT_KEY) -> openai.OpenAI:
        c = openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=15)
        self.clients.append(c)
        return c

    async def close(self) -> None:
        for c in self.clients:
            if isinstance(c, openai.AsyncOpenAI):
                await c.close()
            else:
                c.close()


GatewayFactory = Callable[..., Any]


@pytest.fixture
async def make_gateway(emulator: EmulatorHandle) -> AsyncIterator[GatewayFactory]:
    runners: list[web.AppRunner] = []
    handles: list[GatewayHandle] = []

    async def factory(
        edit: Callable[[dict[str, Any]], None] | None = None,
        store: StateStore | None = None,
        clock: Clock | None = None,
    ) -> GatewayHandle:
        raw = copy.deepcopy(base_config(emulator.url))
        if edit is not None:
            edit(raw)
        cfg = config_mod.parse(raw, "test-config")
        clock = clock or Clock()
        app = make_app(cfg, store=store, clock=clock, rng=random.Random(7))
        runner, url = await start_runner(make_runner(app))
        runners.append(runner)
        handles.append(GatewayHandle(url, app[GATEWAY], clock, app))
        return handles[-1]

    yield factory
    for h in handles:
        await h.close()
    for r in runners:
        await r.cleanup()


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> GatewayHandle:
    handle: GatewayHandle = await make_gateway()
    return handle


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def raw_http(url: str, data: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes to a server and read its whole reply (the request should ask Connection: close or be
    one the server closes after): status, headers (names lower-cased) and body. For protocol abuse no
    HTTP client would send."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return int(lines[0].split()[1]), headers, body


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, rest = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, data = out + rest[:n], rest[n + 2 :]
    return out


def auth(key: str = CLIENT_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


CHAT = {"model": "chat", "messages": [{"role": "user", "content": "你好，世界！"}]}
