"""Redis clients from a URL: ``redis://``, ``rediss://`` (TLS), ``redis+sentinel://h1:p1,h2:p2/<service>[/db]``
and ``redis+cluster://host:port``. Short timeouts and no client-side retries: a slow or absent Redis
must turn into degraded mode quickly, not into stalled requests."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def client_for(url: str) -> tuple[Any, list[Any]]:
    """The client, and any extra connections to close with it (a Sentinel's own)."""
    opts: dict[str, Any] = {
        "socket_timeout": 0.5,
        "socket_connect_timeout": 0.5,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": True,
    }
    if url.startswith("redis+sentinel://"):
        from redis.asyncio.sentinel import Sentinel

        hosts, _, rest = url.removeprefix("redis+sentinel://").partition("/")
        service, _, db = rest.partition("/")
        nodes = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in hosts.split(",")]
        sentinel = Sentinel(nodes, **opts)  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
        return sentinel.master_for(service, db=int(db or 0), **opts), list(sentinel.sentinels)
    if url.startswith("redis+cluster://"):
        from redis.asyncio.cluster import RedisCluster

        return RedisCluster.from_url("redis://" + url.removeprefix("redis+cluster://"), **opts), []
    return aioredis.Redis.from_url(url, **opts), []
