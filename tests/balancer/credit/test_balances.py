"""The balance poller: at start, periodically, on demand; empty accounts out, topped-up ones back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from tests.conftest import ADMIN_KEY, EmulatorHandle, GatewayFactory, GatewayHandle, auth, start_site


def _interval(seconds: float, enabled: bool = True) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        raw["balances"] = {"interval_s": seconds, "enabled": enabled, "timeout_s": 2}

    return edit


async def _refresh(gw: GatewayHandle, query: str = "", key: bool = True) -> tuple[int, dict[str, Any]]:
    headers = auth(ADMIN_KEY) if key else {}
    async with aiohttp.ClientSession() as s, s.post(f"{gw.url}/admin/balances/refresh{query}", headers=headers) as r:
        return r.status, await r.json()


async def test_empty_account_is_out_from_the_start(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """The first poll runs before the gateway serves, so an empty account never gets a request."""
    await emulator.limits("deepseek.a", granted=0.0, paid=0.0)
    gw = await make_gateway()
    assert gw.gw.store.health("ds-a", "deepseek-chat", gw.clock()).reason == "cooldown:quota_exhausted"
    assert gw.gw.balances is not None and gw.gw.balances.snapshot()["ds-b"].total > 0
    raw = await gw.client().chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-qiao-provider"] == "ds-b" and await emulator.requests("deepseek.a") == 0


async def test_periodic_poll_brings_a_topped_up_account_back(
    make_gateway: GatewayFactory, emulator: EmulatorHandle
) -> None:
    """With a short interval the background poll disables an emptied account and re-enables it after a top-up."""
    gw = await make_gateway(_interval(0.005))
    store = gw.gw.store

    async def until(available: bool) -> None:
        for _ in range(400):
            if store.health("ds-a", "deepseek-chat", gw.clock()).available is available:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"ds-a never became available={available}")

    await emulator.limits("deepseek.a", granted=0.0, paid=0.0)
    await until(False)
    await emulator.limits("deepseek.a", paid=1.0)
    await until(True)


async def test_refresh_endpoint(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """POST /admin/balances/refresh needs an admin key, can name providers (a name the config does not hold is a
    404 saying where they are listed, and nothing is polled), and reports granted and paid."""
    gw = await make_gateway(_interval(3600))
    status, _ = await _refresh(gw, key=False)
    assert status == 401
    async with aiohttp.ClientSession() as s, s.post(f"{gw.url}/admin/balances/refresh", headers=auth()) as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "admin_key_required"  # a client key
    await emulator.limits("kimi", granted=1.5, paid=2.0)
    status, body = await _refresh(gw, "?provider=kimi,qwen")
    assert status == 200
    assert body["balances"] == {"kimi": {"total": 3.5, "granted": 1.5, "paid": 2.0, "currency": "CNY"}}
    status, body = await _refresh(gw, "?provider=kimi,nope")
    assert status == 404 and "'nope'" in body["error"]["message"] and "/admin/providers" in body["error"]["message"]


async def test_failed_poll_changes_nothing(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """A poll that fails (here: the vendor refuses the key) is reported and logged, and leaves the account as it was."""
    gw = await make_gateway(_interval(3600))
    async with aiohttp.ClientSession() as s:
        await s.post(f"{emulator.url}/_emulator/keys", json={"target": "deepseek.a", "key": "other"})
    with structlog.testing.capture_logs() as logs:
        status, body = await _refresh(gw, "?provider=ds-a")
    assert status == 200 and body["balances"]["ds-a"] == {"error": "HTTP 401"}
    assert any(e["event"] == "balance_poll_failed" for e in logs)
    assert gw.gw.store.health("ds-a", "deepseek-chat", gw.clock()).available


async def test_disabled_polling(make_gateway: GatewayFactory, emulator: EmulatorHandle) -> None:
    """balances.enabled: false means no poll at start (an empty account is only found by its 402)."""
    await emulator.limits("deepseek.a", granted=0.0, paid=0.0)
    gw = await make_gateway(_interval(3600, enabled=False))
    assert gw.gw.store.health("ds-a", "deepseek-chat", gw.clock()).available
    assert gw.gw.balances is not None and gw.gw.balances.snapshot() == {}


def _deepseek_balance(total: str, granted: str, paid: str) -> bytes:
    info = {"currency": "CNY", "total_balance": total, "granted_balance": granted, "topped_up_balance": paid}
    return json.dumps({"is_available": True, "balance_infos": [info]}).encode()


async def _balance_server(reply: list[bytes], hits: list[int]) -> tuple[web.AppRunner, str]:
    """A DeepSeek-style balance endpoint answering ``reply[0]`` (changed by the test) and counting its hits."""

    async def balance(request: web.Request) -> web.Response:
        hits[0] += 1
        return web.Response(body=reply[0], content_type="application/json")

    app = web.Application()
    app.router.add_get("/user/balance", balance)
    return await start_site(app)


@contextlib.asynccontextmanager
async def _polled(
    make_gateway: GatewayFactory, servers: dict[str, tuple[list[bytes], list[int]]], **account: float
) -> AsyncIterator[GatewayHandle]:
    """A gateway whose providers named in ``servers`` ask a :func:`_balance_server` of their own (its reply and
    hit count), every 10 ms; ``account`` (e.g. ``paid_balance``) configures the first of them. The servers stop
    after."""
    runners, urls = [], {}
    for provider, (reply, hits) in servers.items():
        runner, urls[provider] = await _balance_server(reply, hits)
        runners.append(runner)

    def edit(raw: dict[str, Any]) -> None:
        for provider, url in urls.items():
            raw["providers"][provider]["base_url"] = url
        if account:
            raw["providers"][next(iter(servers))]["account"] = account
        raw["balances"] = {"interval_s": 0.01, "timeout_s": 2}

    try:
        yield await make_gateway(edit)
    finally:
        for runner in runners:
            await runner.cleanup()


async def _until(what: Any, within_s: float = 10.0) -> None:
    """Wait for ``what()`` to hold (polled every 10 ms, failing past ``within_s``)."""
    t0 = time.monotonic()
    while not what():
        assert time.monotonic() - t0 < within_s, "never happened"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("total", "granted", "paid", "named"),
    [
        ("NaN", "0", "NaN", "nan"),
        ("Infinity", "0", "Infinity", "inf"),
        ("1e400", "0", "1e400", "inf"),
        ("5", "-5", "10", "-5"),
        ("1e30", "0", "1e30", "1e+30"),
    ],
)
async def test_a_hostile_balance_reply_is_one_logged_failure_and_polling_goes_on(
    make_gateway: GatewayFactory, total: str, granted: str, paid: str, named: str
) -> None:
    """A balance reply holding NaN, Infinity, a number past a float, a negative grant or an absurd sum is a failed
    poll: logged once (however often it repeats, no traceback), reported by POST /admin/balances/refresh as an
    error naming the value, the known balance (the poller's and the ledger's) and the account's health untouched,
    and the background poll goes on: a sane reply after it is taken."""
    reply, hits = [_deepseek_balance("80", "0", "80")], [0]
    async with _polled(make_gateway, {"ds-a": (reply, hits)}, paid_balance=100.0) as gw:
        poller = gw.gw.balances
        assert poller is not None and poller.latest["ds-a"].paid == 80.0
        with structlog.testing.capture_logs() as logs:
            reply[0] = _deepseek_balance(total, granted, paid)
            seen = hits[0]
            await _until(lambda: hits[0] >= seen + 10)  # the background poll keeps asking
            status, body = await _refresh(gw, "?provider=ds-a")
            assert status == 200 and named in body["balances"]["ds-a"]["error"], body
            assert poller.latest["ds-a"].paid == 80.0
            assert (await gw.gw.ledger.snapshot(gw.clock())).paid_remaining["ds-a"] == 80_000_000
            assert gw.gw.store.health("ds-a", "deepseek-chat", gw.clock()).available
            reply[0] = _deepseek_balance("70", "0", "70")
            await _until(lambda: poller.latest["ds-a"].paid == 70.0)
        failed = [e for e in logs if e["event"] == "balance_poll_failed"]
        assert len(failed) == 1 and failed[0]["provider"] == "ds-a" and named in failed[0]["error"]
        assert not [e for e in logs if "exc_info" in e or "exception" in e or e["log_level"] == "error"]


async def test_a_vendor_hook_that_raises_is_one_providers_failed_poll_and_polling_goes_on(
    make_gateway: GatewayFactory,
) -> None:
    """A balance reply that makes the vendor's parser raise something unexpected (DeepSeek's with no
    ``balance_infos``: an IndexError) is that provider's failed poll, logged once with the provider and never
    the poller's end: the other provider's polls go on, the failing one is asked again, and a sane reply later
    is taken. (Before, the IndexError escaped the background task and balances were never polled again.)"""
    broken, broken_hits = [_deepseek_balance("80", "0", "80")], [0]
    good, good_hits = [_deepseek_balance("50", "0", "50")], [0]
    async with _polled(make_gateway, {"ds-a": (broken, broken_hits), "ds-b": (good, good_hits)}) as gw:
        poller = gw.gw.balances
        assert poller is not None and poller.latest["ds-a"].paid == 80.0
        with structlog.testing.capture_logs() as logs:
            broken[0] = json.dumps({"is_available": True, "balance_infos": []}).encode()
            a, b = broken_hits[0], good_hits[0]
            await _until(lambda: broken_hits[0] >= a + 10 and good_hits[0] >= b + 10)
            good[0] = _deepseek_balance("40", "0", "40")
            await _until(lambda: poller.latest["ds-b"].paid == 40.0)
            assert poller.latest["ds-a"].paid == 80.0 and "IndexError" in poller.errors["ds-a"]
            broken[0] = _deepseek_balance("70", "0", "70")
            await _until(lambda: poller.latest["ds-a"].paid == 70.0)
        failed = [e for e in logs if e["event"] == "balance_poll_failed"]
        assert len(failed) == 1 and failed[0]["provider"] == "ds-a" and "IndexError" in failed[0]["error"]
        assert [e["provider"] for e in logs if e["event"] == "balance_poll_recovered"] == ["ds-a"]
