"""The Redis store's local copy of the cluster's health: every cooldown and open breaker other instances
publish, applied to the store's own (:class:`~balancer.state.memory.MemoryStore`) state within ~1 s by pub/sub,
and resynced whole from the health hash every RESYNC_S (and on start and reconnect), so a lost event is made up.
The request path reads only the local copy."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from balancer.state import keys
from balancer.state.batch import instant
from balancer.state.memory import MemoryStore

RESYNC_S = 2.0


class HealthMirror:
    def __init__(self, client: Any, store: MemoryStore) -> None:
        self.client, self.store = client, store

    async def resync(self) -> None:
        """Mirror every live cooldown and open breaker the health hash holds."""
        entries = await self.client.hgetall(keys.HEALTH)
        now = time.time()
        for field, value in entries.items():
            until_s, _, reason = value.partition("|")
            self._apply(field, instant(keys.HEALTH, until_s), reason, now)

    async def listen(self, closing: Callable[[], bool]) -> None:
        """Apply other instances' health changes as they are published; resync every RESYNC_S, until
        ``closing()``. Clients without pub/sub (the asyncio Cluster client) poll the hash instead, twice a second."""
        if not hasattr(self.client, "pubsub"):
            while not closing():
                await asyncio.sleep(0.5)
                with contextlib.suppress(RedisError, OSError):
                    await self.resync()
        while not closing():
            try:
                async with self.client.pubsub() as ps:
                    await ps.subscribe(keys.EVENTS)
                    last = time.monotonic()
                    while not closing():
                        msg = await ps.get_message(ignore_subscribe_messages=True, timeout=0.5)
                        if msg is not None:
                            self.event(str(msg["data"]))
                        if time.monotonic() - last > RESYNC_S:
                            await self.resync()
                            last = time.monotonic()
            except (RedisError, OSError):
                await asyncio.sleep(0.5)

    def event(self, data: str) -> None:
        """One published change: ``set|field|until|reason`` or ``clear|field``."""
        op, field, until, reason = [*data.split("|", 3), "", "", ""][:4]
        kind, _, key = field.partition(":")
        if op == "set":
            self._apply(field, instant(keys.EVENTS, until), reason, time.time())
        elif op == "clear" and kind == "cd":
            self.store.mirror_uncooled(key)
        elif op == "clear" and kind == "br":
            self.store.mirror_breaker(key, 0.0)

    def _apply(self, field: str, until: float, reason: str, now: float) -> None:
        kind, _, key = field.partition(":")
        if kind == "cd" and until > now:
            self.store.mirror_cooldown(key, until, reason)
        elif kind == "br":
            self.store.mirror_breaker(key, until if until > now else 0.0)
