"""A vendor balance poll reconciles the ledger: the vendor's paid figure replaces the ledger's."""

from __future__ import annotations

from typing import Any

import aiohttp
import structlog

from tests.conftest import ADMIN_KEY, EmulatorHandle, GatewayFactory, auth


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
