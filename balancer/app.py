"""The application: a gateway built from a config, its state store and ledger picked, wired into aiohttp.

The store comes from the config (``state:``; Redis when a URL is set, else memory); the ledger follows the
store through the :class:`~balancer.state.StateStore` protocol (a store that shares a Redis client shares
the books too). Handlers are :class:`~balancer.api.Api` methods bound to the gateway.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

from aiohttp import web

from balancer import admin, batches, tasks
from balancer.api import Api
from balancer.clients import Clients
from balancer.config import Config
from balancer.credit.ledger import Ledger, MemoryLedger
from balancer.credit.ledger_redis import RedisLedger
from balancer.gateway import Gateway, StartupError, check_startable
from balancer.idempotency import Replays
from balancer.job import Clock
from balancer.metrics import Metrics
from balancer.server import Runner
from balancer.state import StateStore
from balancer.state.clients import KeyTable, MemoryKeyTable, RedisKeyTable
from balancer.state.memory import MemoryStore
from balancer.state.redis import RedisStore
from balancer.state.replies import MemoryReplies, RedisReplies, ReplyStore

GATEWAY = web.AppKey("gateway", Gateway)  # the app's gateway, for the CLI (reload) and tests


def make_store(cfg: Config) -> StateStore:
    url = cfg.state.url()
    if url is None:
        if cfg.state.backend == "redis":
            raise StartupError("state.backend is redis but no state.redis_url or REDIS_URL is set")
        return MemoryStore()
    return RedisStore.from_url(url, degraded_share=cfg.state.degraded_share)


def make_ledger(store: StateStore) -> Ledger:
    """Shared state, shared books: the Redis ledger when the store shares a Redis client."""
    return MemoryLedger() if store.redis is None else RedisLedger(store.redis)


def make_key_table(store: StateStore) -> KeyTable:
    """Client keys made through the admin API live where the shared state lives."""
    return MemoryKeyTable() if store.redis is None else RedisKeyTable(store.redis)


def make_replies(store: StateStore) -> ReplyStore:
    """Idempotency-Key replies live where the shared state lives: a retry on another instance is answered too."""
    return MemoryReplies() if store.redis is None else RedisReplies(store.redis)


def make_runner(app: web.Application) -> web.AppRunner:
    """The runner every gateway is served with (``balancer serve`` and the tests alike).

    A client that goes away does not cancel its handler (``handler_cancellation=False``): a handler always
    runs to its end, so every request is settled, booked and logged once, and a stream whose client left is
    ended by the pump (its next write fails). A client that sends no complete head within
    ``server.header_timeout_s`` is disconnected (slowloris); the body is bounded in the API. Shutdown: the
    gateway's drain ends streams at ``drain_s``; the runner waits a little longer for handlers to write their
    ends before it cancels what is left."""
    server = app[GATEWAY].cfg.server
    return Runner(  # aiohttp's AppRunner whose connections answer protocol errors in OpenAI's shape
        app,
        handler_cancellation=False,
        access_log=None,
        shutdown_timeout=server.drain_s + 2.0,
        keepalive_timeout=server.header_timeout_s,  # aiohttp closes a connection idle or mid-head past it
    )


async def _publish(metrics: Metrics) -> None:
    """The request path's counts reach the metrics once a second (and at every scrape, and at shutdown)."""
    while True:
        await asyncio.sleep(1.0)
        metrics.publish()


def make_app(
    cfg: Config, store: StateStore | None = None, clock: Clock = time.time, rng: random.Random | None = None
) -> web.Application:
    check_startable(cfg)
    store = store or make_store(cfg)
    ledger = make_ledger(store)
    clients = Clients(make_key_table(store), watch=ledger.watch)
    gw = Gateway(cfg, store, clock, rng or random.Random(), ledger=ledger, clients=clients)
    app = web.Application(client_max_size=cfg.server.max_body_bytes)
    app[GATEWAY] = gw

    metrics = Metrics()

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await gw.start()
        planner = tasks.spawn(gw.replan_forever, "replan")
        publisher = tasks.spawn(lambda: _publish(metrics), "metrics-publisher")
        yield
        await tasks.stop(planner, publisher)
        metrics.publish()
        await gw.close()

    app.cleanup_ctx.append(lifecycle)
    api = Api(gw, metrics)
    replays = Replays(api.admit, make_replies(store))
    app.router.add_post("/v1/chat/completions", api.endpoint(replays.wrap(api.chat_completions)))
    batches.register(app, gw, api.endpoint)  # /v1/files, /v1/batches: the vendors' batch APIs
    app.router.add_post("/v1/embeddings", api.endpoint(api.embeddings))
    app.router.add_get("/v1/models", api.endpoint(api.models))
    app.router.add_get("/v1/models/{model:.+}", api.endpoint(api.model))
    app.router.add_get("/healthz", api.endpoint(api.healthz))
    app.router.add_get("/readyz", api.endpoint(api.readyz))
    app.router.add_get("/metrics", api.endpoint(api.metrics_text))
    admin.register(app, gw, api)  # /admin/: the admin API, its OpenAPI document, the dashboard
    app.router.add_route("*", "/{tail:.*}", api.endpoint(api.not_found))  # last: OpenAI-shaped 404/405
    return app
