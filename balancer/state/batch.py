"""Batched counters applied to Redis exactly once, even when a reply is lost.

Increments (INCRBY / HINCRBY, with a TTL) are added locally on the request path and sent by a flusher
as numbered batches. A batch is cut by Cluster slot (a key's hash tag) and each part is applied by
``lua/apply.lua``, which moves this process's mark in that slot in the same atomic call and ignores a
part it has already applied. A batch that failed — a timeout, a killed connection, a Redis restart —
is sent again unchanged before anything newer, so a reply lost after Redis applied it costs a resend
that Redis ignores, never a double count; and nothing is dropped, only sent later.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from balancer.state import keys
from balancer.state.scripts import lua

MARK_TTL_S = 7 * 86400  # a mark outlives any resend of its batches by days
APPLY = lua("apply")

Part = tuple[list[str], list[Any]]  # apply.lua's KEYS and ARGV for one slot
Hook = Callable[[Any], None] | None  # adds idempotent commands to a pipeline


class Unreadable(ValueError):
    """A counter in Redis holds something other than an integer (a hand edit, a foreign writer)."""


def count(key: str, value: Any) -> int:
    """A counter's value as read from Redis; :class:`Unreadable`, naming the key, when it is no integer."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Unreadable(f"Redis key {key} holds {str(value)[:40]!r}, not an integer") from None


log = structlog.get_logger("balancer.state.batch")
_UNREADABLE_SEEN: set[str] = set()  # health entries already logged as unreadable (bounded: see instant)


def instant(key: str, value: Any) -> float:
    """A time read from Redis (a health entry's end); one that is no finite number (a hand edit) is 0.0, long
    past, so the entry is ignored rather than stopping the store's start or its health sync (logged once)."""
    try:
        got = float(value)
    except (TypeError, ValueError):
        got = math.nan
    if math.isfinite(got):
        return got
    if str(value) not in _UNREADABLE_SEEN:
        if len(_UNREADABLE_SEEN) > 100:
            _UNREADABLE_SEEN.clear()
        _UNREADABLE_SEEN.add(str(value))
        log.error("health_entry_unreadable", key=key, value=str(value)[:40], kept="ignored as expired")
    return 0.0


class Counters:
    """Increments not yet applied: an open batch that grows, and up to two numbered batches being sent
    (the one that failed last time, if any, and the next)."""

    def __init__(self, origin: str | None = None) -> None:
        self.origin = origin or uuid.uuid4().hex[:12]
        self.parts_sent = 0  # apply.lua calls made (each is one EVALSHA in Redis's statistics)
        self._seq = 0
        self._open: defaultdict[tuple[str, str], int] = defaultdict(int)  # (key, field or "") -> delta
        self._ttl: dict[str, int] = {}
        self._sealed: list[tuple[list[Part], dict[tuple[str, str], int]]] = []  # (parts, sums), oldest first
        self._sha: str | None = None
        self._sending = asyncio.Lock()  # one send at a time (the flusher, a recovery, a snapshot, close)

    def add(self, key: str, delta: int, field: str = "", ttl: int = 0) -> None:
        self._open[key, field] += delta
        if ttl:
            self._ttl[key] = ttl

    def unsent(self, key: str, field: str = "") -> int:
        """What this process added to ``key`` (``field``) that Redis may not show yet."""
        return self._open.get((key, field), 0) + sum(sums.get((key, field), 0) for _, sums in self._sealed)

    def unsent_fields(self, suffix: str) -> int:
        """The sum of what was added to hash fields ending in ``suffix`` (every key) that Redis may not have."""
        sums = [self._open, *(s for _, s in self._sealed)]
        return sum(v for d in sums for (_, f), v in d.items() if f.endswith(suffix))

    def discard(self, key: str) -> None:
        """Forget increments to ``key`` (it was just SET to an authoritative figure). Safe for a sealed
        batch too: a part already applied is ignored when resent, whatever it holds."""
        for k in [k for k in self._open if k[0] == key]:
            del self._open[k]
        for parts, sums in self._sealed:
            for ks, args in parts:
                kept = [i for i, name in enumerate(ks[1:]) if name != key]
                ks[1:] = [ks[1 + i] for i in kept]
                args[2:] = [a for i in kept for a in args[2 + 3 * i : 5 + 3 * i]]
            for k in [k for k in sums if k[0] == key]:
                del sums[k]

    def __bool__(self) -> bool:
        return bool(self._open or self._sealed)

    def _seal(self) -> bool:
        """Number the open increments as the next batch, cut by slot. While two batches wait (Redis is
        away), new increments stay open, so what is resent stays bounded: then this says True (held back)."""
        if not self._open:
            return False
        if len(self._sealed) >= 2:
            return True
        self._seq += 1
        parts: dict[str, Part] = {}
        for (key, field), delta in self._open.items():
            tag = keys.slot_tag(key)
            if tag not in parts:
                parts[tag] = ([keys.applied(tag, self.origin)], [self._seq, MARK_TTL_S])
            ks, args = parts[tag]
            ks.append(key)
            args += [field, delta, self._ttl.get(key, 0)]
        self._sealed.append((list(parts.values()), dict(self._open)))
        self._open.clear()
        self._ttl.clear()
        return False

    async def send(
        self, client: Any, also: Callable[[Any], None] | None = None, first: Callable[[Any], None] | None = None
    ) -> None:
        """Apply the waiting batches and the open increments (sealed as the next), oldest first, and
        ``also``'s own idempotent commands (``first``'s before the increments, e.g. SET NX of a base they
        add to). Raises RedisError/OSError if it fails; a batch not known to be applied stays, unchanged,
        for the next send."""
        async with self._sending:
            held_back = True
            while held_back:  # twice at most: when two batches waited, what stayed open goes right after
                held_back = self._seal()
                if self._sealed and self._sha is None:
                    self._sha = await client.script_load(APPLY)
                try:
                    if isinstance(client, RedisCluster):
                        await self._send_by_slot(client, also, first)
                    elif self._sealed or also is not None:
                        await self._send_pipelined(client, also, first)
                except NoScriptError:  # Redis restarted or flushed its scripts: load again next time
                    self._sha = None
                    raise
                also = None

    async def _send_pipelined(self, client: Any, also: Hook, first: Hook) -> None:
        batches = len(self._sealed)
        pipe = client.pipeline(transaction=False)
        if first is not None and batches:
            first(pipe)
        parts = [part for batch, _ in self._sealed[:batches] for part in batch]
        for ks, args in parts:
            pipe.evalsha(self._sha, len(ks), *ks, *args)
        if also is not None:
            also(pipe)
        self.parts_sent += len(parts)
        await pipe.execute()
        del self._sealed[:batches]

    async def _send_by_slot(self, client: Any, also: Hook, first: Hook) -> None:
        """Redis Cluster: its pipelines refuse scripts, so each slot's part is its own call (a batch's
        parts at once, batches in order, as apply.lua's marks need)."""
        if first is not None and self._sealed:
            pipe = client.pipeline()
            first(pipe)
            await pipe.execute()
        while self._sealed:
            parts, _ = self._sealed[0]
            self.parts_sent += len(parts)
            got = await asyncio.gather(
                *(client.evalsha(self._sha, len(ks), *ks, *args) for ks, args in parts), return_exceptions=True
            )
            failed = next((g for g in got if isinstance(g, BaseException)), None)
            if failed is not None:
                raise failed
            self._sealed.pop(0)
        if also is not None:
            pipe = client.pipeline()
            also(pipe)
            await pipe.execute()
