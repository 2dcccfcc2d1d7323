"""A vendor balance poll reconciles the ledger: the vendor's paid figure replaces the ledger's, and a plan made
on the ledger's old figures is re-made."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import structlog

from balancer.credit.plan import STALE_GAP_S
from tests.conftest import ADMIN_KEY, Clock, EmulatorHandle, GatewayFactory, auth


async def test_balance_poll_reconciles_ledger(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Each poll's paid figure replaces the ledger's (100 configured -> 80 -> 75) and each difference is logged."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["ds-a"]["account"] = {"paid_balance": 100.0}

    await emulator.limits("deepseek.a", granted=10.0, paid=80.0)
    with structlog.testing.capture_logs() as logs:
        gw = await make_gateway(edit)  # polls once before serving
        await emulator.limits("deepseek.a", paid=75.0)  # spent elsewhere: the on-demand poll sees it
        async with http.post(gw.url + "/admin/balances/refresh?provider=ds-a", headers=auth(ADMIN_KEY)) as r:
            assert r.status == 200
            body = await r.json()
    assert body["balances"]["ds-a"]["paid"] == 75.0
    snap = await gw.gw.ledger.snapshot(gw.clock())
    assert snap.paid_remaining["ds-a"] == 75_000_000  # µ¥
    diffs = [e["paid_diff_cny"] for e in logs if e["event"] == "ledger_reconciled" and e["provider"] == "ds-a"]
    assert diffs == [-20.0, -5.0]


async def test_a_poll_that_corrects_the_ledger_has_the_plan_re_made(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """chat on credit-burn, ds-a holding a ¥50 voucher: the vendor shows ¥50 left (the poll agrees with the ledger,
    nothing is re-planned), then ¥20 (spent elsewhere): that poll corrects the ledger and the planner's loop
    re-plans at once (``replan_s`` is an hour) on the corrected figure: one ``plan_stale`` line, a new plan that
    sees ¥20 left."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["routes"]["chat"]["strategy"] = "credit-burn"
        cfg["providers"]["ds-a"]["account"] = {"grants": [{"name": "v", "amount": 50.0, "expires": "2099-01-01"}]}
        cfg["planning"] = {"replan_s": 3600}

    async def refresh() -> None:
        async with http.post(gw.url + "/admin/balances/refresh?provider=ds-a", headers=auth(ADMIN_KEY)) as r:
            assert r.status == 200, await r.text()

    await emulator.limits("deepseek.a", granted=50.0)
    gw = await make_gateway(edit, clock=Clock((time.time() // 3600) * 3600 + 1800))  # no hour's re-plan here
    first = gw.gw.plan
    assert first is not None
    gw.clock.advance(STALE_GAP_S + 1)
    with structlog.testing.capture_logs() as logs:
        await refresh()
        assert gw.gw.replans.stale == {} and gw.gw.plan is first  # counted as the loop is woken
        await emulator.limits("deepseek.a", granted=20.0)
        await refresh()
        t0 = time.monotonic()
        while gw.gw.plan is first:
            assert time.monotonic() - t0 < 10.0, "no re-plan after the poll corrected the ledger"
            await asyncio.sleep(0.02)
    plan = gw.gw.plan
    assert plan is not None and plan.made_at == gw.clock()
    assert [g.remaining for g in plan.grants if g.grant.key == "ds-a/v"] == [20_000_000]  # µ¥
    stale = [e for e in logs if e["event"] == "plan_stale"]
    assert [(e["reason"], e["provider"]) for e in stale] == [("ledger_reconciled", "ds-a")]
