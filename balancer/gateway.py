"""The gateway application: config, routes, state store and engine, wired into an aiohttp app.

Reload (SIGHUP) swaps the config and routes in one assignment; requests in flight keep the objects
they started with, so none is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from balancer import plan_report, router, upstream
from balancer.config import ClientKey, Config
from balancer.failover import Clock, Engine
from balancer.ledger import AccountBook, Ledger, MemoryLedger, books_from_config
from balancer.planner import Plan
from balancer.state import StateStore
from balancer.state.memory import MemoryStore

log = structlog.get_logger("balancer.gateway")


class StartupError(Exception):
    """The gateway refuses to start with this config (the message says why)."""


@dataclass(slots=True)
class Gateway:
    cfg: Config
    store: StateStore
    clock: Clock = time.time
    rng: random.Random = field(default_factory=random.Random)
    session: aiohttp.ClientSession | None = None
    routes: dict[str, router.CompiledRoute] = field(default_factory=dict)
    keys: dict[str, ClientKey] = field(default_factory=dict)
    generation: int = 0
    ledger: Ledger = field(default_factory=MemoryLedger)
    books: dict[str, AccountBook] = field(default_factory=dict)
    plan: Plan | None = None  # the credit-burn plan in force, refreshed every planning.replan_s
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
        routes = router.compile_routes(cfg)
        self.cfg, self.routes = cfg, routes
        self.keys = {k.key_sha256: k for k in cfg.client_keys}
        self.books = books_from_config(cfg)
        self.ledger.configure(self.books)
        self.generation += 1
        if self.session is not None:
            self._engine = Engine(
                cfg, routes, self.store, self.session, self.clock, self.rng, self.ledger, lambda: self.plan
            )

    async def replan(self) -> dict[str, Any]:
        """Re-plan from the ledger now (off the hot path: a periodic task, after start and reload, and
        GET /admin/plan); returns the plan document."""
        self.plan, doc = await plan_report.document(
            self.routes, self.books, self.ledger, self.cfg.planning, self.clock()
        )
        for g in doc["grants"]:
            if g.get("at_risk"):  # cannot be burned in time even at full capacity: reported, not chased
                log.warning("grant_at_risk", provider=g["provider"], grant=g["grant"], waste=g["projected_waste"])
        return doc

    async def replan_forever(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.planning.replan_s)
            try:
                await self.replan()
            except Exception:
                log.exception("replan_failed")

    async def start(self) -> None:
        await self.store.start()
        self.session = upstream.new_session()
        self.apply(self.cfg)
        await self.replan()

    async def close(self) -> None:
        await self.ledger.flush()
        if self.session is not None:
            await self.session.close()
        await self.store.close()

    async def reload(self, cfg: Config) -> None:
        old = self.cfg
        self.apply(cfg)
        await self.replan()
        # A provider whose credentials changed gets a fresh start ("out until config reload").
        for name, prov in cfg.providers.items():
            before = old.providers.get(name)
            if before is not None and before != prov:
                await self.store.clear(name, "auth_failed")
        log.info("config_reloaded", generation=self.generation, routes=sorted(self.routes))


def check_startable(cfg: Config) -> None:
    if not cfg.client_keys and not cfg.server.insecure_no_auth:
        raise StartupError(
            "no client_keys are configured: add one (balancer hash-key prints the hash), or set "
            "server.insecure_no_auth: true for a local run"
        )


GATEWAY = web.AppKey("gateway", Gateway)


def make_store(cfg: Config) -> StateStore:
    if cfg.state.backend == "redis":
        from balancer.state.redis import RedisStore  # type: ignore[import-not-found,unused-ignore]

        return RedisStore.from_config(cfg)  # type: ignore[no-any-return,unused-ignore]
    return MemoryStore()


def make_app(
    cfg: Config, store: StateStore | None = None, clock: Clock = time.time, rng: random.Random | None = None
) -> web.Application:
    from balancer import api

    check_startable(cfg)
    gw = Gateway(cfg, store or make_store(cfg), clock, rng or random.Random())
    app = web.Application(middlewares=[api.middleware], client_max_size=cfg.server.max_body_bytes)
    app[GATEWAY] = gw

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await gw.start()
        planner = asyncio.create_task(gw.replan_forever())
        yield
        planner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await planner
        await gw.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/v1/chat/completions", api.chat_completions)
    app.router.add_post("/v1/embeddings", api.embeddings)
    app.router.add_get("/v1/models", api.models)
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/readyz", api.readyz)
    app.router.add_get("/admin/plan", api.admin_plan)
    return app
