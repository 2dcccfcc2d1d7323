"""The gateway: config, routes, state store, ledger, credit plan and engine, and their lifecycle.

:mod:`balancer.app` wires a :class:`Gateway` into an aiohttp application. Reload (SIGHUP) swaps the config
and routes in one assignment; requests in flight keep the objects they started with, so none is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import structlog

from balancer import checks, http, router, upstream
from balancer.attempt import Drain
from balancer.capture import Capture
from balancer.clients import Clients
from balancer.config import Config
from balancer.credit import planner, report
from balancer.credit.balances import BalancePoller
from balancer.credit.ledger import AccountBook, Cost, Ledger, MemoryLedger, books_from_config
from balancer.credit.plan import STALE_GAP_S, Lineup, Plan
from balancer.credit.schedule import Warm
from balancer.failover import Engine
from balancer.job import Clock
from balancer.replans import Replans
from balancer.routes import Choice, CompiledRoute, compile_routes
from balancer.state import StateStore, candidate_key
from balancer.state.clients import MemoryKeyTable
from balancer.vendors.base import Balance

log = structlog.get_logger("balancer.gateway")

HOUR_EDGE_S = 1.0  # an hour's re-plan runs this long after the hour turns (the plan is then the new hour's)


class StartupError(Exception):
    """The gateway refuses to start with this config (the message says why)."""


@dataclass(slots=True)
class Gateway:
    cfg: Config
    store: StateStore
    clock: Clock = time.time
    rng: random.Random = field(default_factory=random.Random)
    session: aiohttp.ClientSession | None = None  # off the hot path (balance polls, admin calls)
    pool: http.Pool | None = None  # the hot path's upstream connections
    capture: Capture | None = None  # transcript capture, when configured
    routes: dict[str, CompiledRoute] = field(default_factory=dict)
    clients: Clients = field(default_factory=lambda: Clients(MemoryKeyTable()))  # client and admin keys
    generation: int = 0
    balances: BalancePoller | None = None
    ledger: Ledger = field(default_factory=MemoryLedger)
    books: dict[str, AccountBook] = field(default_factory=dict)
    plan: Plan | None = None  # the credit-burn plan in force (routes it fits), refreshed by replan_forever
    warm: Warm = field(default_factory=Warm)  # the last solve's basis: the next starts from it
    solving: asyncio.Lock = field(default_factory=asyncio.Lock)  # one solve at a time: they share the basis
    stale: asyncio.Event = field(default_factory=asyncio.Event)  # the plan in force is out of date: re-plan now
    woken_at: float = float("-inf")  # when ``_wake`` last set ``stale``
    drain: Drain = field(default_factory=Drain)  # shutdown: kept across reloads
    solve_s: float | None = None  # how long the last re-plan took
    replans: Replans = field(default_factory=Replans)  # failed re-plans: logged once, shown in the status
    capturing: asyncio.Lock = field(default_factory=asyncio.Lock)  # one transcript writer swap at a time
    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "gateway not started"
        return self._engine

    @property
    def strategies(self) -> list[str]:
        return sorted(router.STRATEGIES)

    def apply(self, cfg: Config) -> None:
        check_startable(cfg)
        routes = compile_routes(cfg, router.STRATEGIES)
        self.cfg, self.routes = cfg, routes
        if self.plan is not None:  # a route whose candidates moved is not steered by indices made for others
            self.plan = self.plan.fitted(lineups(routes))
        self.clients.configure(cfg)
        self.generation += 1
        self.books = books_from_config(cfg)
        self.ledger.configure(self.books)
        if self.pool is not None:
            self._engine = Engine(
                cfg,
                self.store,
                self.pool,
                self.clock,
                self.rng,
                self.ledger,
                lambda: self.plan,
                self.drain,
                self.booked,
            )

    def begin_drain(self) -> None:
        """SIGTERM: requests in flight may finish for ``server.drain_s``; then every upstream connection is cut,
        so open streams end with an error event and a clean end, and what is left of the shutdown is quick."""
        self.drain.begin(self.cfg.server.drain_s, self._cut)

    def _cut(self) -> None:
        if self.pool is not None:
            self.pool.abort()

    async def replan(self) -> dict[str, Any]:
        """Re-plan from the ledger now (off the hot path: a periodic task, after start and reload, and
        GET /admin/plan); returns the plan document. A failure leaves the plan in force, is recorded in
        ``replans`` (logged once per distinct failure) and raised."""
        try:
            doc = await self._replan()
        except Exception as e:
            self.replans.failed(e, self.clock())
            raise
        self.replans.succeeded(self.clock())
        return doc

    async def _replan(self) -> dict[str, Any]:
        async with self.solving:
            now = self.clock()
            down = frozenset(
                candidate_key(c.provider_name, c.model)
                for r in self.routes.values()
                for c in r.choices
                if not self.store.health(c.provider_name, c.model, now).available
            )
            t0 = time.perf_counter()
            plan, snap = await planner.replan(self.cfg, self.books, self.ledger, now, down=down, warm=self.warm)
            doc = report.report(plan, snap)
            # A reload during the solve may have moved candidates: only the routes the plan still fits take it;
            # their picks go on where the plan in force left off.
            before = self.plan.routes if self.plan is not None else {}
            self.plan = plan.fitted(lineups(self.routes)).continuing(before)
            self.solve_s = time.perf_counter() - t0
        if doc["planner"] != "optimal":  # routing falls back to the price order until the next re-plan
            log.warning("plan_not_optimal", status=doc["planner"])
        for g in doc["grants"]:
            if g.get("at_risk"):  # cannot be burned in time even at full capacity: reported, not chased
                log.warning("grant_at_risk", provider=g["provider"], grant=g["grant"], waste=g["projected_waste"])
        return doc

    async def replan_quietly(self) -> None:
        """Re-plan; on a failure the plan in force stays (with none, the price order routes): ``replan`` has
        recorded and logged it."""
        with contextlib.suppress(Exception):
            await self.replan()

    async def replan_forever(self) -> None:
        """Re-plan every ``planning.replan_s``, when the hour the plan in force holds shares for ends, and as soon
        as a booking finds that plan stale."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stale.wait(), self.next_replan_s())
            self.stale.clear()
            await self.replan_quietly()

    def next_replan_s(self) -> float:
        """Seconds to the next periodic re-plan: ``planning.replan_s``, or less to re-plan just past the end of
        the plan's hour (a plan whose hour has already ended, its re-plan failing, waits the full period)."""
        every, plan = self.cfg.planning.replan_s, self.plan
        left = plan.until + HOUR_EDGE_S - self.clock() if plan is not None else every
        return left if 0 < left < every else every

    def booked(self, route: str, choice: Choice, cost: Cost) -> None:
        """A request on ``route`` was booked at ``cost``. One that paid on a candidate the plan in force counts a
        grant for (``RoutePlan.stale_after``: the grant ran out or ended early) makes that plan stale."""
        plan = self.plan
        if cost.paid <= 0 or plan is None or self.stale.is_set():
            return
        rp = plan.routes.get(route)
        if rp is not None and rp.stale_after(choice.index, cost.paid):
            self._wake("grant_spent", route=route, provider=choice.provider_name, model=choice.model)

    def _wake(self, reason: str, **about: str) -> None:
        """The plan in force is out of date: wake the planner's loop, unless that plan was made, or the loop woken,
        less than ``STALE_GAP_S`` ago (so a re-plan that fails is not retried at every call): a later call wakes
        it then. Without a plan nothing is stale (the loop's next re-plan reads the ledger as it is)."""
        plan, now = self.plan, self.clock()
        if plan is None or self.stale.is_set() or now - max(plan.made_at, self.woken_at) < STALE_GAP_S:
            return
        log.info("plan_stale", reason=reason, **about)
        self.replans.stale[reason] = self.replans.stale.get(reason, 0) + 1
        self.woken_at = now
        self.stale.set()

    async def start(self) -> None:
        await self.store.start()
        self.session = upstream.new_session()
        self.pool = http.Pool()
        if self.cfg.transcripts is not None:
            self.capture = Capture(self.cfg.transcripts)
            await self.capture.start()
        self.apply(self.cfg)
        await self.ledger.start()
        await self.clients.start()
        self.balances = BalancePoller(
            lambda: self.cfg, self.store, self.session, self.clock, on_balance=self._reconcile
        )
        await self.balances.start()
        await self.replan_quietly()

    async def _reconcile(self, provider: str, balance: Balance) -> None:
        """A vendor balance poll corrects the ledger: its granted and paid figures win (in CNY)."""
        rate = self.cfg.money.usd_cny if balance.currency == "USD" else 1.0
        granted = None if balance.granted is None else balance.granted * rate
        paid = None if balance.paid is None else balance.paid * rate
        out = await self.ledger.reconcile(provider, granted, paid, self.clock())
        if out.granted_diff or out.paid_diff:  # what the plan read of the grants or the spend caps was wrong
            self._wake("ledger_reconciled", provider=provider)

    async def close(self) -> None:
        await self.clients.close()
        if self.balances is not None:
            await self.balances.stop()
        await self.ledger.close()
        if self.session is not None:
            await self.session.close()
        if self.pool is not None:
            await self.pool.close()
        if self.capture is not None:
            await self.capture.close()
        await self.store.close()

    async def reload(self, cfg: Config) -> None:
        old = self.cfg
        self.apply(cfg)
        await self.recapture()
        await self.replan_quietly()
        # A provider whose credentials changed gets a fresh start ("out until config reload").
        for name, prov in cfg.providers.items():
            before = old.providers.get(name)
            if before is not None and before != prov:
                await self.store.clear(name, "auth_failed")
        # A model taken out as unavailable is tried again: a reload is how an operator says "it is enabled now".
        for key in {candidate_key(c.provider_name, c.model) for r in self.routes.values() for c in r.choices}:
            await self.store.clear(key, "model_unavailable")
        log.info("config_reloaded", generation=self.generation, routes=sorted(self.routes))

    async def recapture(self) -> None:
        """After a reload whose ``transcripts`` settings changed, capture follows them: the old writer writes what
        it queued and closes its file, then a new one (new directory, sample rate, ...) takes the records from
        then on; records submitted meanwhile wait in its queue. None when the section was removed."""
        async with self.capturing:
            want = self.cfg.transcripts
            if want == (None if self.capture is None else self.capture.cfg):
                return
            old, self.capture = self.capture, None if want is None else Capture(want)
            if old is not None:
                await old.close()
            if self.capture is not None:
                await self.capture.start()
            log.info(
                "transcripts_reconfigured",
                was=None if old is None else msgspec.to_builtins(old.cfg),
                now=None if want is None else msgspec.to_builtins(want),
            )


def lineups(routes: dict[str, CompiledRoute]) -> dict[str, Lineup]:
    """Each route's candidates as (provider, model) in their order: what a plan's indices must have been made for."""
    return {name: tuple((c.provider_name, c.model) for c in r.choices) for name, r in routes.items()}


def check_startable(cfg: Config) -> None:
    """StartupError when the config has an error (:func:`balancer.checks.errors`, which `balancer check` runs too)."""
    found = checks.errors(cfg)
    if found:
        raise StartupError(checks.refusal(found))
