"""The admin API against a real gateway and emulator: admin keys only, providers steered, spend and failures read."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import openai
import pytest
import redis.asyncio as aioredis
import structlog

from balancer.admin.routes import OPS
from balancer.state import keys
from balancer.state.redis import RedisStore
from tests.conftest import ADMIN_KEY, CHAT, CLIENT_KEY, EmulatorHandle, GatewayFactory, GatewayHandle, auth

SOON = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=20)).isoformat()  # a grant expiring within the horizon


async def call(
    http: aiohttp.ClientSession, gw: GatewayHandle, method: str, path: str, key: str | None = ADMIN_KEY, **kw: Any
) -> tuple[int, Any]:
    headers = auth(key) if key else {}
    async with http.request(method, gw.url + path, headers=headers, **kw) as r:
        return r.status, await r.json()


async def test_every_admin_operation_needs_an_admin_key(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """Every operation in the route table (and the OpenAPI document) answers 401 without a key or with a wrong one,
    and 403 admin_key_required to a client key, in OpenAI's error shape; the client key still serves /v1."""
    paths = [(op.method, op.path.replace("{name}", "ds-a")) for op in OPS] + [("GET", "/admin/openapi.json")]
    for method, path in paths:
        for key, status, code in (
            (None, 401, "missing_api_key"),
            ("sk-wrong", 401, "invalid_api_key"),
            (CLIENT_KEY, 403, "admin_key_required"),
        ):
            got, body = await call(http, gateway, method, path, key, json={})
            assert (got, body["error"]["code"]) == (status, code), (method, path, key)
            assert body["error"]["message"] and body["error"]["type"]
    status, _ = await call(http, gateway, "GET", "/v1/models", CLIENT_KEY)
    assert status == 200


async def test_drain_reset_and_undrain_steer_traffic(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A drained provider takes no request until undrained; a provider disabled by a bad key is back after a reset;
    each change is logged as admin_change with the admin key's name."""
    client = gateway.client()
    with structlog.testing.capture_logs() as logs:
        status, body = await call(http, gateway, "POST", "/admin/providers/ds-a/drain")
        assert status == 200 and body["provider"]["state"] == "drained" and body["by"] == "ops"
        r = await client.chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
        assert r.headers["x-qiao-provider"] == "ds-b"
        status, body = await call(http, gateway, "POST", "/admin/providers/ds-a/undrain")
        assert body["provider"]["state"] == "up"
        await emulator.fault("deepseek.a", "auth", count=1)
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        _, providers = await call(http, gateway, "GET", "/admin/providers")
        assert {p["name"]: p["state"] for p in providers["providers"]}["ds-a"] == "disabled"
        status, body = await call(http, gateway, "POST", "/admin/providers/ds-a/reset", json={})
        assert status == 200 and body["provider"]["state"] == "up" and body["what"] == "reset:breaker+cooldown"
        r = await client.chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
        assert r.headers["x-qiao-provider"] == "ds-a"
    changes = [(e["who"], e["what"], e["target"]) for e in logs if e["event"] == "admin_change"]
    assert changes == [("ops", "drain", "ds-a"), ("ops", "undrain", "ds-a"), ("ops", "reset:breaker+cooldown", "ds-a")]
    status, body = await call(http, gateway, "POST", "/admin/providers/nope/drain")
    assert (status, body["error"]["code"]) == (404, "provider_not_found")


async def test_a_drain_keeps_through_a_reset(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """Reset ends cooldowns, not a drain: an operator's drain stays until undrained."""
    await call(http, gateway, "POST", "/admin/providers/kimi/drain")
    _, body = await call(http, gateway, "POST", "/admin/providers/kimi/reset", json={"breaker": False})
    assert body["provider"]["state"] == "drained" and body["what"] == "reset:cooldown"


async def test_failures_keep_failovers_and_errors(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A request served after a failover and a request answered with an error are both in /admin/failures, newest
    first, with their attempts; a plain success is not."""
    client = gateway.client()
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    await emulator.fault("deepseek.a", "server_error", count=1)
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="no-such-route", messages=CHAT["messages"])
    _, body = await call(http, gateway, "GET", "/admin/failures?limit=10")
    failures = body["failures"]
    assert [f["status"] for f in failures] == [404, 200]
    assert [a["result"] for a in failures[1]["attempts"]] == ["upstream_error", "ok"]
    assert failures[1]["client"] == "tests" and failures[1]["at"] > 0
    status, body = await call(http, gateway, "GET", "/admin/failures?limit=0")
    assert (status, body["error"]["code"]) == (400, "invalid_query")


async def test_spend_by_key_route_provider_and_day(make_gateway: GatewayFactory, http: aiohttp.ClientSession) -> None:
    """Spend is booked per client key, route and provider: grouped as asked, filtered, with totals; unknown
    dimensions are a 400 naming the parameter."""
    gw = await make_gateway()
    client = gw.client()
    for model in ("chat", "chat", "kimi"):
        await client.chat.completions.create(model=model, messages=CHAT["messages"])
    _, body = await call(http, gw, "GET", "/admin/spend?by=key,route,provider")
    rows = {(r["key"], r["route"], r["provider"]): r for r in body["rows"]}
    assert set(rows) == {("tests", "chat", "ds-a"), ("tests", "kimi", "kimi")}
    assert rows["tests", "chat", "ds-a"]["requests"] == 2 and rows["tests", "chat", "ds-a"]["cost_cny"] > 0
    assert body["total"]["requests"] == 3
    assert body["total"]["cost_cny"] == pytest.approx(sum(r["cost_cny"] for r in body["rows"]))
    _, body = await call(http, gw, "GET", "/admin/spend?by=day&route=kimi")
    today = dt.datetime.fromtimestamp(gw.clock(), dt.UTC).date().isoformat()
    assert [(r["day"], r["key"], r["requests"]) for r in body["rows"]] == [(today, None, 1)]
    status, body = await call(http, gw, "GET", "/admin/spend?by=week")
    assert (status, body["error"]["param"]) == (400, "by")


async def test_grant_burn_down_has_history_and_a_plan(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    """A grant's burn-down starts from what was left at the start of the day, ends at what is left now, and the
    plan in force projects it from now to its exhaustion or its expiry."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["qwen"]["account"] = {"grants": [{"name": "pack", "tokens": 100000, "expires": SOON}]}
        cfg["routes"]["qwen"] = {"strategy": "priority", "candidates": [{"provider": "qwen", "model": "qwen-plus"}]}

    gw = await make_gateway(edit)
    await gw.client().chat.completions.create(model="qwen", messages=CHAT["messages"])
    await gw.gw.replan()
    _, body = await call(http, gw, "GET", "/admin/grants")
    (g,) = body["grants"]
    assert (g["provider"], g["grant"], g["unit"], g["size"]) == ("qwen", "pack", "tokens", 100000)
    assert g["history"][0]["remaining"] == 100000 and g["history"][-1]["remaining"] == g["remaining"] < 100000
    assert g["plan"] and g["plan"][0]["remaining"] == g["remaining"] and g["plan"][-1]["t"] > g["plan"][0]["t"]


@pytest.mark.parametrize(
    ("which", "paths"),
    [("client_book", ("/admin/spend",)), ("book_day", ("/admin/spend", "/admin/grants"))],
)
async def test_a_hand_edited_book_in_redis_is_an_error_naming_its_key(
    make_gateway: GatewayFactory, redis_url: str, http: aiohttp.ClientSession, which: str, paths: tuple[str, ...]
) -> None:
    """A day's books in Redis (a client key's or a provider's) with a field hand-edited to a non-integer: the
    admin spend and grants views answer 503 ledger_unreadable naming the key (no 500, no traceback in the logs);
    the field fixed, they answer 200 again."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["account"] = {"grants": [{"name": "pack", "tokens": 100000, "expires": SOON}]}

    gw = await make_gateway(edit, store=RedisStore.from_url(redis_url))
    await gw.client().chat.completions.create(**CHAT)  # type: ignore[call-overload]
    day = dt.datetime.fromtimestamp(gw.clock(), dt.UTC).strftime("%Y%m%d")
    key = keys.client_book("tests", day) if which == "client_book" else keys.book_day("ds-a", day)
    await gw.gw.ledger.history(gw.clock(), 1)  # flushed: the books are in Redis
    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    field = next(iter(await r.hkeys(key)))
    good = await r.hget(key, field)
    await r.hset(key, field, "1.5e3")
    with structlog.testing.capture_logs() as logs:
        for path in paths:
            status, body = await call(http, gw, "GET", path)
            assert status == 503 and body["error"]["code"] == "ledger_unreadable", (path, body)
            assert key in body["error"]["message"] and "1.5e3" in body["error"]["message"]
    assert not [e for e in logs if "exc_info" in e or "exception" in e]
    await r.hset(key, field, good)
    await r.aclose()
    for path in paths:
        assert (await call(http, gw, "GET", path))[0] == 200
