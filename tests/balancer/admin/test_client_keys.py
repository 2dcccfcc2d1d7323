"""Client keys as a product, against a real gateway and emulator: made and revoked through the admin API, with
limits, budgets, an expiry and allowed routes, each refusal an OpenAI-style error that says which limit."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import aiohttp
import openai
import pytest
import structlog

from tests.balancer.admin.test_admin_api import call
from tests.conftest import CHAT, EmulatorHandle, GatewayFactory, GatewayHandle, auth


async def make_key(http: aiohttp.ClientSession, gw: GatewayHandle, **spec: Any) -> str:
    status, body = await call(http, gw, "POST", "/admin/keys", json=spec)
    assert status == 201, body
    secret: str = body["secret"]
    return secret


async def chat(http: aiohttp.ClientSession, gw: GatewayHandle, key: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    async with http.post(gw.url + "/v1/chat/completions", json={**CHAT, **kw}, headers=auth(key)) as r:
        body = await r.json()
        return r.status, {**body, "_retry_after": r.headers.get("Retry-After")}


async def test_a_key_made_used_changed_and_revoked(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """The secret is in the create answer only (never listed, never logged); the key serves its routes only;
    a revoke refuses it at once; a config key cannot be revoked through the API."""
    with structlog.testing.capture_logs() as logs:
        secret = await make_key(http, gateway, name="app", routes=["chat"])
        assert secret.startswith("sk-qiao-")
        status, _ = await chat(http, gateway, secret)
        assert status == 200
        status, body = await chat(http, gateway, secret, model="kimi")
        assert (status, body["error"]["code"]) == (404, "model_not_found")
        _, listed = await call(http, gateway, "GET", "/admin/keys")
        assert {k["name"]: k["source"] for k in listed["keys"]} == {"app": "api", "tests": "config"}
        assert secret not in str(listed)
        status, body = await call(http, gateway, "PATCH", "/admin/keys/app", json={"routes": ["*"]})
        assert status == 200 and body["routes"] == ["*"]
        assert (await chat(http, gateway, secret, model="kimi"))[0] == 200
        status, body = await call(http, gateway, "POST", "/admin/keys", json={"name": "app"})
        assert (status, body["error"]["code"]) == (409, "key_exists")
        assert (await call(http, gateway, "DELETE", "/admin/keys/app"))[0] == 200
        status, body = await chat(http, gateway, secret)
        assert (status, body["error"]["code"]) == (401, "invalid_api_key")
        status, body = await call(http, gateway, "DELETE", "/admin/keys/tests")
        assert status == 409 and "config file" in body["error"]["message"]
    assert secret not in str(logs)
    assert [e["what"] for e in logs if e["event"] == "admin_change"] == ["create_key", "update_key", "revoke_key"]


async def test_rpm_and_tpm_limits_say_which_and_when(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """A key over its RPM gets 429 rate_limit_exceeded naming RPM, its limit and the wait (and Retry-After); a
    request bigger than its TPM gets one naming TPM. Another key is not affected."""
    secret = await make_key(http, gateway, name="rpm2", limits={"rpm": 2})
    assert [(await chat(http, gateway, secret))[0] for _ in range(2)] == [200, 200]
    status, body = await chat(http, gateway, secret)
    assert (status, body["error"]["code"], body["error"]["type"]) == (429, "rate_limit_exceeded", "requests")
    assert "requests per minute (RPM): limit 2" in body["error"]["message"] and "'rpm2'" in body["error"]["message"]
    assert 1 <= int(body["_retry_after"]) <= 60
    tpm = await make_key(http, gateway, name="tpm", limits={"tpm": 100})
    status, body = await chat(http, gateway, tpm, max_tokens=500)
    assert (status, body["error"]["type"]) == (429, "tokens") and "(TPM): limit 100" in body["error"]["message"]
    assert (await chat(http, gateway, tpm, max_tokens=20))[0] == 200
    assert (await chat(http, gateway, await make_key(http, gateway, name="free")))[0] == 200


async def test_concurrency_limit(gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession) -> None:
    """With concurrency 1, a second request while the first is in flight is refused; after it, one is served."""
    secret = await make_key(http, gateway, name="one", limits={"concurrency": 1})
    await emulator.fault("deepseek.a", "slow_first_byte", latency_ms=400, count=1)
    first = asyncio.create_task(chat(http, gateway, secret))
    await asyncio.sleep(0.15)
    status, body = await chat(http, gateway, secret)
    assert (status, body["error"]["code"]) == (429, "rate_limit_exceeded")
    assert "requests in flight (concurrency): limit 1" in body["error"]["message"]
    assert (await first)[0] == 200
    assert (await chat(http, gateway, secret))[0] == 200


async def test_budgets_refuse_with_insufficient_quota(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """A key that has spent its daily budget gets 429 insufficient_quota naming the budget, what was spent and
    when it resets; raising the budget lets it through again. Its spend is on the key's record."""
    secret = await make_key(http, gateway, name="thrifty", daily_budget=0.00001)
    assert (await chat(http, gateway, secret))[0] == 200  # nothing spent yet: served, and now over
    status, body = await chat(http, gateway, secret)
    assert (status, body["error"]["code"], body["error"]["type"]) == (429, "insufficient_quota", "insufficient_quota")
    message = body["error"]["message"]
    assert "daily budget" in message and "of ¥1e-05 (today" in message and "resets at" in message
    assert body["_retry_after"]
    _, key = await call(http, gateway, "GET", "/admin/keys/thrifty")
    assert key["spent_today_cny"] > 0.00001 and key["spent_month_cny"] == key["spent_today_cny"]
    await call(http, gateway, "PATCH", "/admin/keys/thrifty", json={"daily_budget": None, "monthly_budget": 100.0})
    assert (await chat(http, gateway, secret))[0] == 200


async def test_expired_keys_are_refused(make_gateway: GatewayFactory, http: aiohttp.ClientSession) -> None:
    """A config key past its expiry date, and an API key past its expiry time, are 401 expired_api_key."""
    from balancer.config import hash_key

    def edit(cfg: dict[str, Any]) -> None:
        cfg["client_keys"].append({"name": "old", "key_sha256": hash_key("sk-old-key-0001"), "expires": "2020-01-31"})

    gw = await make_gateway(edit)
    status, body = await chat(http, gw, "sk-old-key-0001")
    assert (status, body["error"]["code"]) == (401, "expired_api_key")
    assert "expired at 2020-02-01T00:00:00Z" in body["error"]["message"]
    soon = (dt.datetime.fromtimestamp(gw.clock(), dt.UTC) + dt.timedelta(seconds=60)).isoformat()
    secret = await make_key(http, gw, name="brief", expires=soon)
    assert (await chat(http, gw, secret))[0] == 200
    gw.clock.advance(61)
    assert (await chat(http, gw, secret))[1]["error"]["code"] == "expired_api_key"


async def test_bad_key_specs_are_400s_naming_the_field(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """Unknown fields, a negative budget, a name with spaces or an unknown route are refused before anything is
    stored."""
    for spec, where in (
        ({"name": "x", "rpm": 5}, "rpm"),
        ({"name": "x", "daily_budget": -1}, "daily_budget"),
        ({"name": "a b"}, "name"),
        ({"name": "x", "routes": ["nope"]}, "routes"),
    ):
        status, body = await call(http, gateway, "POST", "/admin/keys", json=spec)
        assert status == 400 and where in (body["error"]["message"] + str(body["error"]["param"])), spec
    _, listed = await call(http, gateway, "GET", "/admin/keys")
    assert [k["name"] for k in listed["keys"]] == ["tests"]


async def test_the_openai_sdk_sees_the_limits(gateway: GatewayHandle, http: aiohttp.ClientSession) -> None:
    """The official SDK raises RateLimitError with the gateway's message for a key over its limit."""
    secret = await make_key(http, gateway, name="sdk", limits={"rpm": 1})
    client = gateway.client(secret)
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    with pytest.raises(openai.RateLimitError, match="RPM"):
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]


async def test_a_key_is_hashed_once_per_distinct_key(
    gateway: GatewayHandle, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five requests with one key hash it once (the cache); a change to the keys empties the cache, so the next
    request hashes again, once."""
    from balancer import clients

    hashed: list[str] = []
    real = clients.hash_key
    monkeypatch.setattr(clients, "hash_key", lambda k: hashed.append(k) or real(k))
    for _ in range(5):
        assert (await chat(http, gateway, "sk-test-client-0123456789"))[0] == 200
    assert len(hashed) == 1
    await make_key(http, gateway, name="another")  # the keys changed
    for _ in range(3):
        await chat(http, gateway, "sk-test-client-0123456789")
    assert hashed.count("sk-test-client-0123456789") == 2  # once more after the change, not three times


BAD_SPECS: list[tuple[dict[str, Any], str]] = [
    ({"limits": {"rpm": -1}}, "limits.rpm"),
    ({"limits": {"tpm": -5}}, "limits.tpm"),
    ({"limits": {"concurrency": -1}}, "limits.concurrency"),
    ({"limits": {"rpm": 2**70}}, "limits.rpm"),
    ({"limits": {"tpm": 2**63}}, "limits.tpm"),
    ({"expires": "0001-01-01T00:00:00+14:00"}, "expires"),
    ({"expires": "9999-12-31T23:59:59-14:00"}, "expires"),
]


@pytest.mark.parametrize(("spec", "where"), BAD_SPECS, ids=[w + ":" + str(s) for s, w in BAD_SPECS])
async def test_out_of_range_limits_and_expiry_are_400s(
    gateway: GatewayHandle, http: aiohttp.ClientSession, spec: dict[str, Any], where: str
) -> None:
    """A negative or beyond-64-bit limit, or an expiry that is no UTC date-time, is a 400 naming the field, on
    create and on change, and nothing is stored: no key that refuses every request with 'limit -1', no 500 that
    leaves a key behind which then breaks GET /admin/keys."""
    await make_key(http, gateway, name="fine")
    with structlog.testing.capture_logs() as logs:
        status, body = await call(http, gateway, "POST", "/admin/keys", json={"name": "odd", **spec})
        assert status == 400 and body["error"]["code"] == "invalid_body", body
        assert where in body["error"]["message"] + str(body["error"]["param"])
        status, body = await call(http, gateway, "PATCH", "/admin/keys/fine", json=spec)
        assert status == 400 and body["error"]["code"] == "invalid_body", body
    assert not [e for e in logs if e["event"] in ("unhandled_error", "admin_change")]
    status, listed = await call(http, gateway, "GET", "/admin/keys")
    assert status == 200 and [(k["name"], k["limits"]) for k in listed["keys"]] == [
        ("fine", {"rpm": 0, "tpm": 0, "concurrency": 0}),
        ("tests", {"rpm": 0, "tpm": 0, "concurrency": 0}),
    ]
