"""Shared state under failure: Redis killed, paused or refusing writes, seen from outside through real HTTP
clients against gateways on real redis-server processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from balancer.state.redis import RedisStore
from tests.balancer.admin.test_admin_api import call
from tests.conftest import GatewayFactory
from tests.redis_server import RedisServer


async def test_admin_key_changes_while_redis_is_away_are_a_clear_503(
    tmp_path: Path, make_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    """Creating, changing or revoking a client key needs the shared key table: with Redis down the admin API
    answers 503 state_store_unavailable in OpenAI's shape (not a 500 internal_error), and works again once Redis
    is back."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        gw = await make_gateway(store=RedisStore.from_url(server.url))
        status, body = await call(http, gw, "POST", "/admin/keys", json={"name": "before"})
        assert status == 201, body
        server.stop()
        status, body = await call(http, gw, "POST", "/admin/keys", json={"name": "during"})
        assert status == 503, body
        assert body["error"]["code"] == "state_store_unavailable"
        status, body = await call(http, gw, "DELETE", "/admin/keys/before")
        assert status == 503, body
        server.start()
        for _ in range(100):  # the client reconnects on its next call
            status, body = await call(http, gw, "POST", "/admin/keys", json={"name": "after"})
            if status != 503:
                break
            await asyncio.sleep(0.1)
        assert status == 201, body
    finally:
        server.stop()
