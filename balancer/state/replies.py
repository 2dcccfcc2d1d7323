"""Idempotency-Key replies, kept where the shared state lives: one request answers a key, cluster-wide.

``claim`` answers with the key's kept reply, or ``True`` when this request now holds the key's claim (it
must then ``keep`` its reply or give the claim up), or ``False`` while another request holds it (ask again).
A claim whose holder vanished lapses after ``hold_s``; a kept reply after ``ttl_s``. ``MemoryReplies`` serves
one process; ``RedisReplies`` every instance on one Redis (two Lua scripts, ``lua/reply_*.lua``). When Redis
cannot be reached, a claim is granted (the request is sent, as it would be without the header) and nothing
is kept, Redis left alone for a short pause after each failure: idempotency degrades, serving does not.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol

import msgspec
import structlog
from redis.exceptions import RedisError

from balancer.state import keys
from balancer.state.scripts import lua

log = structlog.get_logger()

MAX_ENTRIES = 20_000  # memory: the oldest go first
PAUSE_S = (0.1, 5.0)  # Redis not asked after a failure: first pause, doubling up to


class Kept(msgspec.Struct, frozen=True):
    """A whole reply: what a repeat of its request is answered with."""

    status: int
    headers: dict[str, str]
    body: bytes
    request: str = ""  # a digest of the request it answers: a repeat with another body is refused, not answered


class ReplyStore(Protocol):
    async def claim(self, scope: str, token: str, now: float, hold_s: float) -> Kept | bool:
        """The kept reply for ``scope``; else True (claimed by ``token`` for ``hold_s``) or False (held)."""
        ...

    async def keep(self, scope: str, token: str, reply: Kept | None, now: float, ttl_s: float) -> None:
        """End ``token``'s claim: keep ``reply`` for ``ttl_s``, or (None) free the key; a lapsed claim is a no-op."""
        ...


class MemoryReplies:
    """One process's replies and claims, by scope (bounded: the oldest go first)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, Kept | str]] = OrderedDict()  # scope -> (until, reply|token)

    async def claim(self, scope: str, token: str, now: float, hold_s: float) -> Kept | bool:
        entry = self._entries.get(scope)
        if entry is not None and entry[0] > now:
            return entry[1] if isinstance(entry[1], Kept) else False
        self._put(scope, now + hold_s, token)
        return True

    async def keep(self, scope: str, token: str, reply: Kept | None, now: float, ttl_s: float) -> None:
        entry = self._entries.get(scope)
        if entry is None or entry[1] != token:
            return
        if reply is None:
            del self._entries[scope]
        else:
            self._put(scope, now + ttl_s, reply)

    def _put(self, scope: str, until: float, value: Kept | str) -> None:
        self._entries[scope] = (until, value)
        self._entries.move_to_end(scope)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class RedisReplies:
    """Replies and claims in Redis, shared by every instance (Redis expires both). After a failed call Redis is
    not asked again for a pause (``now`` + 0.1 s, doubling up to 5 s while it stays out of reach), so a request
    with the header does not wait out a connect timeout per call during an outage."""

    def __init__(self, client: Any) -> None:
        self._claim = client.register_script(lua("reply_claim"))
        self._keep = client.register_script(lua("reply_keep"))
        self._encode = msgspec.json.Encoder().encode  # text (the body in base64): clients may decode responses
        self._decode = msgspec.json.Decoder(Kept).decode
        self.unreachable = False  # since the last call failed (logged once per outage, and once at its end)
        self._pause, self._until = 0.0, 0.0  # not asked before _until

    async def claim(self, scope: str, token: str, now: float, hold_s: float) -> Kept | bool:
        if now < self._until:
            return True
        try:
            got = await self._claim(keys=[keys.reply(scope)], args=[token, _ms(hold_s)])
        except (RedisError, OSError) as e:
            self._failed(e, now)
            return True
        self._reached()
        if got is None:
            return True
        if got[:2] in ("P:", b"P:"):  # another request's claim token
            return False
        try:
            return self._decode(got)
        except msgspec.DecodeError:  # not a reply this version wrote: answer afresh
            return True

    async def keep(self, scope: str, token: str, reply: Kept | None, now: float, ttl_s: float) -> None:
        if now < self._until:
            return
        value = b"" if reply is None else self._encode(reply)
        try:
            await self._keep(keys=[keys.reply(scope)], args=[token, value, _ms(ttl_s)])
        except (RedisError, OSError) as e:
            self._failed(e, now)
            return
        self._reached()

    def _failed(self, e: Exception, now: float) -> None:
        if not self.unreachable:
            log.warning("idempotency_store_unavailable", error=type(e).__name__, effect="requests sent again")
        self.unreachable = True
        self._pause = min(2 * self._pause, PAUSE_S[1]) if self._pause else PAUSE_S[0]
        self._until = now + self._pause

    def _reached(self) -> None:
        if self.unreachable:
            log.info("idempotency_store_reachable")
        self.unreachable, self._pause = False, 0.0


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
