"""The dashboard in a real headless Chromium (Debian's, driven by Playwright) against a live gateway and emulator."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.balancer.admin.test_admin_api import SOON, call
from tests.conftest import ADMIN_KEY, CHAT, EmulatorHandle, GatewayFactory

CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/setup installs it); Playwright downloads no browser
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert shutil.which("chromium"), "Debian's chromium is missing: run scripts/setup (apt-get install chromium)"
    async with async_playwright() as p:
        # Playwright gives each launch a fresh --user-data-dir and adds --headless.
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        await b.close()


def _edit(cfg: dict[str, Any]) -> None:
    cfg["providers"]["qwen"]["account"] = {"grants": [{"name": "pack", "tokens": 200000, "expires": SOON}]}
    cfg["routes"]["qwen"] = {"strategy": "priority", "candidates": [{"provider": "qwen", "model": "qwen-plus"}]}


async def _state(page: Page, provider: str, state: str) -> None:
    await page.wait_for_selector(f'tr[data-provider="{provider}"] .state[data-state="{state}"]', timeout=6000)


async def test_watch_a_provider_go_down_drain_one_and_see_the_burn_down(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, browser: Browser, http: aiohttp.ClientSession
) -> None:
    """Enter the admin key once; the providers table shows ds-a disabled after the emulator refuses its key and a
    request fails over; the Drain button on ds-b drains it (the API agrees); the grant's burn-down chart draws
    its data points and the plan's line, and the card gives the grant's value to the plan; the failover is
    listed; a reload keeps the key; the page breaks no content-security rule (no console error)."""
    gw = await make_gateway(_edit)
    client = gw.client()
    await client.chat.completions.create(model="qwen", messages=CHAT["messages"])  # some grant burned
    await gw.gw.replan()
    page = await browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(gw.url + "/admin/")
    await page.fill("#admin-key", ADMIN_KEY)
    await page.click("#login button[type=submit]")
    await _state(page, "ds-a", "up")

    await emulator.fault("deepseek.a", "auth")
    r = await client.chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
    assert r.headers["x-qiao-provider"] == "ds-b"
    await _state(page, "ds-a", "disabled")
    assert "auth_failed" in await page.inner_text('tr[data-provider="ds-a"]')

    await page.click('tr[data-provider="ds-b"] button[data-action="drain"]')
    await _state(page, "ds-b", "drained")
    _, body = await call(http, gw, "GET", "/admin/providers")
    assert {p["name"]: p["state"] for p in body["providers"]}["ds-b"] == "drained"

    chart = '.grant[data-grant="qwen/pack"] svg'
    points = await page.locator(f"{chart} circle.point").count()
    assert points >= 2
    left = await page.locator(f"{chart} circle.point").last.get_attribute("data-remaining")
    assert left is not None and 0 < float(left) < 200000
    assert len((await page.locator(f"{chart} polyline.plan").get_attribute("points") or "").split()) == 2
    _, grants = await call(http, gw, "GET", "/admin/grants")
    (worth,) = [g["value"] for g in grants["grants"] if g["grant"] == "pack"]
    shown = page.locator('.grant[data-grant="qwen/pack"] .value')
    assert worth is not None and float(await shown.get_attribute("data-value") or "nan") == worth
    assert "per million tokens" in await shown.inner_text()
    await page.wait_for_selector("#failures tbody tr", timeout=6000)
    assert "ds-a: auth_failed" in await page.inner_text("#failures tbody")
    assert await page.locator("#spend rect.bar").count() == 1

    await page.reload()
    await _state(page, "ds-b", "drained")  # no second prompt: the key is in this tab's sessionStorage
    assert await page.locator("#login").is_hidden()
    assert errors == []
    if shot := os.environ.get("QIAO_DASHBOARD_SCREENSHOT"):  # for a person to look at
        await page.screenshot(path=shot, full_page=True)
