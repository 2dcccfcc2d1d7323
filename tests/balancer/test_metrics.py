"""/metrics: what the gateway served, failed over, spent and holds, as Prometheus reads it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_KEY, CHAT, EmulatorHandle, GatewayFactory, auth


async def scrape(http: aiohttp.ClientSession, url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by (name, sorted labels)."""
    async with http.get(url + "/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_attempts_tokens_and_spend(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Served, failed-over and refused requests are counted by route/status/client; attempts and failovers by
    provider and class; tokens per provider equal what the emulator served; spend follows the tariff."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["account"] = {
            "grants": [{"name": "pack", "tokens": 1_000_000, "expires": "2099-01-01"}]
        }

    gw = await make_gateway(edit)
    client = gw.client()
    for _ in range(3):
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    await emulator.fault("deepseek.a", "rate_limit", count=1)
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    stream = await client.chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
    _ = [c async for c in stream]
    async with http.post(gw.url + "/v1/chat/completions", json=CHAT, headers=auth("sk-wrong")) as r:
        assert r.status == 401
    m = await scrape(http, gw.url)
    assert value(m, "qiao_requests_total", route="chat", status="200", client="tests") == 5
    assert value(m, "qiao_requests_total", route="", status="401", client="") == 1
    assert value(m, "qiao_attempts_total", provider="ds-a", model="deepseek-chat", result="rate_limited") == 1
    assert value(m, "qiao_failovers_total", provider="ds-a", failure="rate_limited") == 1
    stats = await emulator.stats()
    for provider, target in (("ds-a", "deepseek.a"), ("ds-b", "deepseek.b")):
        served = sum(
            value(m, "qiao_tokens_total", provider=provider, route="chat", client="tests", kind=k)
            for k in ("prompt", "completion")
        )
        assert served == stats[target]["total_tokens"] > 0
    assert value(m, "qiao_spend_cny_total", provider="ds-a", route="chat", client="tests", paid_by="grant") > 0
    assert value(m, "qiao_spend_cny_total", provider="ds-b", route="chat", client="tests", paid_by="paid") > 0
    assert value(m, "qiao_ttft_seconds_count", provider="ds-b") == 1  # the stream (ds-a was cooling down)
    assert value(m, "qiao_attempt_seconds_count", provider="ds-a") == 3
    assert value(m, "qiao_attempt_seconds_count", provider="ds-b") == 2


async def test_state_gauges(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """An account with a bad key shows as disabled with its cooldown; the rest are up; grants, balances and the
    store's health are exposed."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["qwen"]["account"] = {"grants": [{"name": "pack", "tokens": 5000, "expires": "2099-01-01"}]}

    gw = await make_gateway(edit)
    await emulator.fault("deepseek.a", "auth", count=1)
    await gw.client().chat.completions.create(**CHAT)  # type: ignore[call-overload]
    m = await scrape(http, gw.url)
    assert value(m, "qiao_provider_state", provider="ds-a", state="disabled") == 1
    assert value(m, "qiao_provider_state", provider="ds-b", state="up") == 1
    assert 86000 < value(m, "qiao_provider_cooldown_seconds", provider="ds-a", reason="auth_failed") <= 86400
    assert value(m, "qiao_grant_remaining", provider="qwen", grant="pack", unit="tokens") == 5000
    assert value(m, "qiao_balance", provider="ds-b", kind="total", currency="CNY") > 0
    assert value(m, "qiao_state_store_up", backend="memory") == 1
    assert value(m, "qiao_planner_optimal") == 1


async def test_the_plans_value_of_each_grant_and_capacity(
    make_gateway: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    """A grant the plan will run short of is worth the paid price it displaces: a 1000-token qwen pack on a route
    with qwen-plus alone (¥0.8/M in, ¥2/M out), under traffic that spends it within a day, is worth the route's
    measured mix of those prices per million tokens, in /metrics (``qiao_grant_value``, unit cny_per_mtok) and in
    /admin/grants; qwen's token limit has room to spare (its capacity worth 0); a pack and a ¥500 voucher on a
    route with no traffic will be left over (worth 0, the voucher in ¥ per ¥)."""

    def edit(cfg: dict[str, Any]) -> None:
        soon = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=20)).isoformat()
        cfg["providers"]["qwen"]["account"] = {"grants": [{"name": "pack", "tokens": 1000, "expires": soon}]}
        cfg["providers"]["qwen"]["limits"] = {"tpm": 100_000}  # room to spare
        cfg["providers"]["ds-a"]["account"] = {
            "grants": [{"name": "big", "tokens": 10**9, "expires": soon}, {"name": "v", "amount": 500, "expires": soon}]
        }
        cfg["routes"]["q"] = {"strategy": "priority", "candidates": [{"provider": "qwen", "model": "qwen-plus"}]}

    gw = await make_gateway(edit)
    usage = [(await gw.client().chat.completions.create(model="q", messages=CHAT["messages"])).usage for _ in range(3)]
    prompt, completion = sum(u.prompt_tokens for u in usage if u), sum(u.completion_tokens for u in usage if u)
    price = (0.8 * prompt + 2.0 * completion) / (prompt + completion)
    await gw.gw.replan()
    m = await scrape(http, gw.url)
    assert abs(value(m, "qiao_grant_value", provider="qwen", grant="pack", unit="cny_per_mtok") - price) < 0.01, price
    assert value(m, "qiao_grant_value", provider="ds-a", grant="big", unit="cny_per_mtok") < 0.001
    assert ("qiao_grant_value", (("grant", "big"), ("provider", "ds-a"), ("unit", "cny_per_mtok"))) in m
    assert m[("qiao_grant_value", (("grant", "v"), ("provider", "ds-a"), ("unit", "cny_per_cny")))] < 0.001
    assert m[("qiao_capacity_value_cny_per_mtok", (("provider", "qwen"),))] < 0.001
    async with http.get(gw.url + "/admin/grants", headers=auth(ADMIN_KEY)) as r:
        views = {g["grant"]: g["value"] for g in (await r.json())["grants"]}
    assert abs(views["pack"] - price) < 0.01 and views["big"] < 0.001, views
