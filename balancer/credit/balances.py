"""Balance polling: ask every configured account whose vendor has a balance API how much money it has,
periodically and on demand, and act on it.

Funds > 0 end a ``quota_exhausted`` disable (a top-up brings the account back by itself); funds <= 0
disable the account until the next poll. A reply that cannot be read, or holds a figure no vendor would report
(:func:`believable`), is a failed poll: the known balance stays, and it is logged once until the error changes.
Granted and paid money stay apart as the vendor reports them.
The latest :class:`Balance` per provider is kept here in memory; :meth:`BalancePoller.snapshot` is the
seam for persisting it in a shared state store.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import aiohttp
import structlog

from balancer import tasks
from balancer.config import Config, Provider
from balancer.state import StateStore
from balancer.vendors import REGISTRY
from balancer.vendors.base import Balance, BalanceProbe, Vendor

log = structlog.get_logger("balancer.credit.balances")

QUOTA = "quota_exhausted"
BELIEVABLE = 1e10  # CNY/USD: no prepaid account holds (or owes) more; its µ¥ still fit Redis' 64-bit integers


def believable(balance: Balance) -> Balance:
    """The balance, or ValueError naming the figure no vendor would report: not finite (NaN, Infinity, a number
    past a float), beyond ``BELIEVABLE`` either way, or a negative grant (paid money and the total may be
    negative: a debt)."""
    figures = {"total": balance.total, "granted": balance.granted, "paid": balance.paid}
    for name, value in figures.items():
        if value is not None and not (math.isfinite(value) and abs(value) <= BELIEVABLE):
            raise ValueError(f"unbelievable balance reply: {name}={value!r}")
    if balance.granted is not None and balance.granted < 0:
        raise ValueError(f"unbelievable balance reply: granted={balance.granted!r} (a grant is never negative)")
    return balance


def probe_url(vendor: Vendor, provider: Provider, probe: BalanceProbe) -> str:
    if probe.path.startswith("http"):
        return probe.path
    return (provider.base_url or vendor.base_url).rstrip("/") + probe.path


@dataclass(slots=True)
class BalancePoller:
    config: Callable[[], Config]  # the current config (reload-safe)
    store: StateStore
    session: aiohttp.ClientSession
    clock: Callable[[], float]
    # Called with each fresh balance so the ledger can reconcile (the vendor's figure wins).
    on_balance: Callable[[str, Balance], Awaitable[None]] | None = None
    latest: dict[str, Balance] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def providers(self) -> dict[str, Provider]:
        """The configured providers whose vendor has a balance API."""
        return {n: p for n, p in self.config().providers.items() if REGISTRY[p.vendor].balance is not None}

    async def refresh(self, names: Iterable[str] | None = None) -> dict[str, Balance | str]:
        """Poll now (all probed providers, or ``names``); returns each balance or the error text."""
        probed = self.providers()
        wanted = [n for n in (probed if names is None else names) if n in probed]
        results = await asyncio.gather(*(self._poll(n, probed[n]) for n in wanted))
        return dict(zip(wanted, results, strict=True))

    async def _poll(self, name: str, provider: Provider) -> Balance | str:
        """One provider's poll. It never raises (but for cancellation): a reply that cannot be read and any
        surprise (a vendor hook's KeyError, a state store or ledger error) are this provider's failed poll, so
        the other providers and the later polls go on."""
        cfg = self.config().balances
        try:
            balance = await self._fetch(provider, cfg.timeout_s)
        except (TimeoutError, aiohttp.ClientError, ValueError) as e:
            return self._failed(name, str(e)[:200] or type(e).__name__)
        except Exception as e:  # a vendor hook's bug: this provider's failed poll, not the poller's end
            return self._failed(name, f"{type(e).__name__}: {str(e)[:200]}", e)
        try:
            await self._apply(name, balance, cfg.interval_s)
        except Exception as e:  # the state store or the ledger: the next poll tries again
            return self._failed(name, f"{type(e).__name__} applying the balance: {str(e)[:200]}", e)
        if name in self.errors:
            log.info("balance_poll_recovered", provider=name, error=self.errors.pop(name))
        return balance

    async def _fetch(self, provider: Provider, timeout_s: float) -> Balance:
        vendor = REGISTRY[provider.vendor]
        probe = vendor.balance
        assert probe is not None
        key = provider.api_key.reveal() if provider.api_key else ""
        headers = vendor.headers(key, b"", provider.extra, self.clock())
        async with asyncio.timeout(timeout_s):
            async with self.session.get(probe_url(vendor, provider, probe), headers=headers) as resp:
                body = await resp.read()
                if resp.status >= 300:
                    raise ValueError(f"HTTP {resp.status}")
        return believable(probe.parse(body))

    def _failed(self, name: str, error: str, unexpected: Exception | None = None) -> str:
        """A failed poll: the known balance stays; logged when the provider's error is new, not at every poll
        (an unexpected exception at error level, with its traceback)."""
        if self.errors.get(name) != error and unexpected is None:
            log.warning("balance_poll_failed", provider=name, error=error)
        elif self.errors.get(name) != error:
            log.error("balance_poll_failed", provider=name, error=error, exc_info=unexpected)
        self.errors[name] = error
        return error

    async def _apply(self, name: str, balance: Balance, interval_s: float) -> None:
        self.latest[name] = balance
        if self.on_balance is not None:
            await self.on_balance(name, balance)
        now = self.clock()
        if balance.total > 0:
            await self.store.clear(name, QUOTA)
        else:
            before = self.store.cooldown(name, now)
            await self.store.cool_down(name, now + interval_s, QUOTA, now)
            if before is None or before[1] != QUOTA:  # once, when the account runs dry
                log.warning("provider_out_of_funds", provider=name, total=balance.total, currency=balance.currency)
        log.info(
            "balance_polled",
            provider=name,
            total=balance.total,
            granted=balance.granted,
            paid=balance.paid,
            currency=balance.currency,
        )

    def snapshot(self) -> dict[str, Balance]:
        """The latest balance per provider (for a shared state store to persist)."""
        return dict(self.latest)

    async def start(self) -> None:
        """Poll once before serving, then every ``balances.interval_s`` in the background."""
        cfg = self.config().balances
        if not cfg.enabled or not self.providers():
            return
        await self.refresh()
        self._task = tasks.spawn(self._run, "balance-poller")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config().balances.interval_s)
            await self.refresh()

    async def stop(self) -> None:
        await tasks.stop(self._task)
        self._task = None
