"""The Redis state store: many gateway instances behave as one.

Hot path: ``health`` reads a local mirror (``mirror.py``: kept within ~1 s of Redis by pub/sub, and resynced
whole every few seconds); ``admit`` spends a locally held *lease* — a slice of the account's minute
RPM/TPM budget handed out by ``lease.lua`` — and calls Redis only when the slice runs out (a slice is
2% of the limit, so well under one round trip per request; with no limits configured, none). The sum
of leases never exceeds a limit, so the cluster never overshoots it. Accounting (requests and
tokens per account and day, concurrency releases) is batched and flushed every 50 ms in one
pipeline, each increment applied exactly once (``batch.py``). Cooldowns and breaker openings are
written through (one Lua call, failures only) and published.

If Redis is unreachable or slow the store is *degraded*: it serves on local state (limits scaled by
``degraded_share``), keeps its accounting, reconnects with backoff and then resyncs and flushes.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import structlog
from redis.exceptions import RedisError

from balancer import tasks
from balancer.config import Limits
from balancer.config_failover import Breaker
from balancer.state import Admission, Quota, Verdict, candidate_key, keys
from balancer.state.batch import Counters, Unreadable, count
from balancer.state.connect import client_for
from balancer.state.memory import MemoryStore
from balancer.state.mirror import HealthMirror
from balancer.state.scripts import lua

log = structlog.get_logger("balancer.state.redis")

LEASE_FRACTION = 0.02
FLUSH_S = 0.05
RESERVATION_S = 600.0  # a crashed instance's concurrency slots come back after this


@dataclass(slots=True)
class _Lease:
    window: int
    requests: int = 0
    tokens: int = 0


class RedisStore(MemoryStore):
    name = "redis"

    def __init__(self, client: Any, *, degraded_share: float = 1.0, flush_s: float = FLUSH_S) -> None:
        super().__init__()
        self.client = client
        self.degraded = False
        self.degraded_events = 0
        self.round_trips = 0  # script calls made on the request path
        self.flushes = 0  # batched accounting pipelines sent
        self._share = degraded_share
        self._flush_s = flush_s
        self._leases: dict[str, _Lease] = {}
        self._fetching: dict[str, asyncio.Future[None]] = {}
        self._instance = uuid.uuid4().hex[:12]
        self.accounting = Counters(self._instance)  # requests and tokens per account and day, not yet applied
        self._releases: list[tuple[str, str]] = []
        self._free: dict[str, list[tuple[str, float]]] = defaultdict(list)  # released slots kept briefly
        self._taken: dict[str, float] = {}
        self._freed_at: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._recovering: asyncio.Task[None] | None = None
        self._closing = False
        self._also_close: list[Any] = []
        self._lease = client.register_script(lua("lease"))
        self._inflight = client.register_script(lua("inflight"))
        self._health = client.register_script(lua("health"))
        self._clear = client.register_script(lua("clear"))
        self._mirror = HealthMirror(client, self)

    @property
    def redis(self) -> Any:
        """The shared client: the Redis ledger books through it too."""
        return self.client

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisStore:
        client, also_close = client_for(url)
        store = cls(client, **kw)
        store._also_close = also_close
        return store

    # ---- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.client.ping()
            await self._mirror.resync()
        except (RedisError, OSError) as e:
            self._degrade(e)
        self._tasks = [tasks.spawn(self._flusher, "state-flusher"), tasks.spawn(self._listen, "health-listener")]

    async def close(self) -> None:
        self._closing = True
        await tasks.stop(*self._tasks, self._recovering)
        await self.flush()  # what is left (nothing while degraded: Redis is away)
        await self.client.aclose()
        for extra in self._also_close:
            await extra.aclose()

    async def status(self) -> str:
        return "degraded" if self.degraded else "ok"

    # ---- the request path -------------------------------------------------------------------------

    async def admit(
        self, provider: str, model: str, limits: Limits, tokens: int, breaker: Breaker, now: float
    ) -> Admission:
        if self.degraded or not (limits.rpm or limits.tpm or limits.concurrency):
            return await super().admit(provider, model, self._scaled(limits), tokens, breaker, now)
        key = candidate_key(provider, model)
        denied, probe = self.gate(provider, key, breaker, now)
        if denied is not None:
            return denied
        window = math.floor(now / 60.0)
        denied, booked = await self._shared_quota(provider, limits, tokens, now)
        if denied is not None:
            return denied
        ticket: str | None = ""
        if limits.concurrency and not self.degraded:
            ticket = await self._slot(provider, limits.concurrency, now)
            denied = Admission(ok=False, reason="concurrency", retry_at=now + 0.05) if ticket == "" else None
        if denied is None and not booked:  # local in-flight bookkeeping (if Redis just failed: the local limit too)
            local = Limits(concurrency=self._scaled(limits).concurrency) if ticket is None else Limits()
            denied = self.local_quota(provider, local, tokens, now)
        if denied is not None:
            self._give_back(provider, window, limits, tokens)
            return denied
        adm = self.admitted(provider, key, probe, tokens, window)
        adm.ticket = ticket or ""
        return adm

    async def _slot(self, provider: str, limit: int, now: float) -> str | None:
        """A slot released here moments ago (no round trip) or a new one; "" at the limit, None if Redis failed."""
        free = self._free.get(provider)
        while free:
            ticket, taken_at = free.pop()
            if now - taken_at < RESERVATION_S / 2:
                return ticket
            self._releases.append((keys.inflight(provider), ticket))
        ticket = f"{self._instance}:{uuid.uuid4().hex[:10]}"
        ok = await self._call(self._inflight, [keys.inflight(provider)], [now, limit, ticket, now + RESERVATION_S])
        if ok is None:  # Redis failed: it may still take the slot when it wakes up; give it back with the next flush
            self._releases.append((keys.inflight(provider), ticket))
            return None
        if ok:
            self._taken[ticket] = now
        return ticket if ok else ""

    async def _shared_quota(
        self, provider: str, limits: Limits, tokens: int, now: float
    ) -> tuple[Admission | None, bool]:  # (a denial or None, booked on local state as Redis just failed)
        window = math.floor(now / 60.0)
        lease = self._leases.get(provider)
        if lease is None or lease.window != window:
            lease = self._leases[provider] = _Lease(window)
        while self._short(lease, limits, tokens):
            pending = self._fetching.get(provider)
            if pending is not None:  # single flight: one lease request per account at a time
                await asyncio.shield(pending)
                if lease is not self._leases.get(provider):
                    lease = self._leases.setdefault(provider, _Lease(window))
                continue
            fetched = await self._fetch(provider, lease, limits, tokens)
            if fetched is None:  # Redis just failed: this request goes on local state (booked there)
                return self.local_quota(provider, self._scaled(limits), tokens, now), True
            if not fetched and self._short(lease, limits, tokens):
                reason = "rpm" if limits.rpm and lease.requests < 1 else "tpm"
                return Admission(ok=False, reason=reason, retry_at=(window + 1) * 60.0), False
        if limits.rpm:
            lease.requests -= 1
        if limits.tpm:
            lease.tokens -= tokens
        return None, False

    @staticmethod
    def _short(lease: _Lease, limits: Limits, tokens: int) -> bool:
        return (bool(limits.rpm) and lease.requests < 1) or (bool(limits.tpm) and lease.tokens < tokens)

    async def _fetch(self, provider: str, lease: _Lease, limits: Limits, tokens: int) -> bool | None:
        """Ask Redis for another slice; True if anything was granted, None if Redis failed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fetching[provider] = done
        try:
            want_r = max(1, math.ceil(limits.rpm * LEASE_FRACTION)) if limits.rpm else 0
            want_t = max(tokens - lease.tokens, math.ceil(limits.tpm * LEASE_FRACTION)) if limits.tpm else 0
            got = await self._call(
                self._lease,
                [keys.window(provider, lease.window)],
                [limits.rpm, limits.tpm, want_r, want_t, keys.WINDOW_TTL_S],
            )
        finally:
            del self._fetching[provider]
            done.set_result(None)
        if got is None:
            return None
        lease.requests += int(got[0])
        lease.tokens += int(got[1])
        return int(got[0]) > 0 or int(got[1]) > 0

    def _give_back(self, provider: str, window: int, limits: Limits, tokens: int) -> None:
        lease = self._leases.get(provider)
        if lease is not None and lease.window == window:
            lease.requests += 1 if limits.rpm else 0
            lease.tokens += tokens if limits.tpm else 0

    def _scaled(self, limits: Limits) -> Limits:
        if not self.degraded or self._share >= 1.0:
            return limits
        return Limits(
            rpm=max(1, int(limits.rpm * self._share)) if limits.rpm else 0,
            tpm=max(1, int(limits.tpm * self._share)) if limits.tpm else 0,
            concurrency=max(1, int(limits.concurrency * self._share)) if limits.concurrency else 0,
        )

    async def settle(
        self, adm: Admission, tokens_used: int, verdict: Verdict, latency_ms: float, breaker: Breaker, now: float
    ) -> None:
        self.release(adm, tokens_used)
        lease = self._leases.get(adm.provider)
        if lease is not None and lease.window == adm.window:
            lease.tokens += adm.tokens - tokens_used  # unused reservation back to the slice (or a debt)
        day = time.strftime("%Y%m%d", time.gmtime(now))
        usage = keys.usage(adm.provider, day)
        self.accounting.add(usage, 1, "requests", keys.USAGE_TTL_S)
        self.accounting.add(usage, tokens_used, "tokens", keys.USAGE_TTL_S)
        if adm.ticket:  # kept for this instance's next request; returned by the flusher if unused
            self._free[adm.provider].append((adm.ticket, self._taken.get(adm.ticket, now)))
            self._freed_at[adm.ticket] = time.monotonic()
        change = self.feed(adm, verdict, latency_ms, breaker, now)
        if change == "opened":
            await self._publish_health(keys.breaker_field(adm.key), self.breaker_until(adm.key), "breaker", now)
        elif change == "closed" and not self.degraded:
            await self._call(self._clear, [keys.HEALTH], [keys.breaker_field(adm.key), "", keys.EVENTS])

    async def cool_down(self, key: str, until: float, reason: str, now: float) -> float:
        local = await super().cool_down(key, until, reason, now)
        shared = await self._publish_health(keys.cooldown_field(key), until, reason, now)
        if shared is not None and shared > local:
            self.mirror_cooldown(key, shared, reason)
            return shared
        return local

    async def clear(self, key: str, reason_prefix: str) -> None:
        await super().clear(key, reason_prefix)
        await self._call(self._clear, [keys.HEALTH], [keys.cooldown_field(key), reason_prefix, keys.EVENTS])

    async def quota(self, provider: str, now: float) -> Quota:
        if self.degraded:
            return await super().quota(provider, now)
        try:  # a window hand-edited to a non-integer (it lasts a minute): this instance's figures, as with no Redis
            r, t = await self.client.hmget(win := keys.window(provider, math.floor(now / 60.0)), ["r", "t"])
            in_flight = await self.client.zcount(keys.inflight(provider), now, "+inf")
            kept = len(self._free.get(provider, ()))  # slots this instance holds for its next request: not in flight
            return Quota(requests=count(win, r or 0), tokens=count(win, t or 0), in_flight=max(0, in_flight - kept))
        except (RedisError, OSError, Unreadable):
            return await super().quota(provider, now)

    async def reset_breaker(self, key: str) -> None:
        await self._call(self._clear, [keys.HEALTH], [keys.breaker_field(key), "", keys.EVENTS])
        await super().reset_breaker(key)  # after: an earlier "open" event still on its way is then overruled

    async def _publish_health(self, field: str, until: float, reason: str, now: float) -> float | None:
        got = await self._call(self._health, [keys.HEALTH], [field, repr(until), reason, now, keys.EVENTS])
        return None if got is None else float(got)

    # ---- Redis calls, degradation and recovery ----------------------------------------------------

    async def _call(self, script: Any, keys_: list[str], args: list[Any]) -> Any:
        """One script call; None (and degraded mode) when Redis fails."""
        if self.degraded:
            return None
        self.round_trips += 1
        try:
            return await script(keys=keys_, args=args)
        except (RedisError, OSError) as e:
            self._degrade(e)
            return None

    def _degrade(self, exc: BaseException) -> None:
        if not self.degraded:
            self.degraded = True
            self.degraded_events += 1
            self._leases.clear()
            log.warning("state_store_degraded", error=str(exc)[:200], events=self.degraded_events)
        if not self._closing and (self._recovering is None or self._recovering.done()):
            self._recovering = tasks.spawn(self._recover, "state-recover")

    async def _recover(self) -> None:
        delay = 0.1
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self.client.ping()
                self.degraded = False
                await self._mirror.resync()
                await self.flush()  # a failure here degrades again (the flush keeps its batch)
            except (RedisError, OSError):
                self.degraded = True
            if self.degraded:
                delay = min(delay * 2, 5.0)
                continue
            log.info("state_store_recovered")
            return

    async def flush(self) -> None:
        """Write the batched accounting in one pipeline, exactly once (``batch.Counters``; kept for
        later if Redis fails)."""
        self._return_idle_slots()
        if self.degraded or not (self.accounting or self._releases):
            return
        releases = list(self._releases)
        self._releases.clear()

        def release(pipe: Any) -> None:
            for key, ticket in releases:
                pipe.zrem(key, ticket)

        self.flushes += 1
        try:
            await self.accounting.send(self.client, release if releases else None)
        except (RedisError, OSError) as e:
            self._releases.extend(releases)  # ZREM twice is harmless
            self._degrade(e)

    def _return_idle_slots(self) -> None:
        """Concurrency slots this instance released and did not reuse within a flush period go back."""
        cutoff = time.monotonic() - self._flush_s
        for provider, free in self._free.items():
            for ticket, _ in free:
                if self._freed_at.get(ticket, 0.0) <= cutoff:
                    self._releases.append((keys.inflight(provider), ticket))
                    self._taken.pop(ticket, None)
                    self._freed_at.pop(ticket, None)
            free[:] = [(t, at) for t, at in free if t in self._freed_at]

    async def _flusher(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._flush_s)
            await self.flush()

    async def _listen(self) -> None:
        await self._mirror.listen(lambda: self._closing)
