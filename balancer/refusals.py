"""Refusals learned from vendors: what a candidate refused in a request, so the next request that carries the same
is not sent to it again.

An ``unsupported`` verdict whose rule names the request field it is about (:attr:`ErrorRule.about`, e.g. Kimi's
check of tool schemas against its own JSON Schema subset) is remembered for that candidate and the field's value,
by a digest of its raw bytes, for :data:`TTL_S`. An agent sends the same tool set byte for byte every turn: without
the memo each of its requests cost a refused round trip before the failover. Per process (an instance learns a
refusal once), bounded (the oldest go past :data:`MAX_ENTRIES`); a config reload starts afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from msgspec import Raw

TTL_S = 3600.0  # a vendor that starts accepting the value is asked again within the hour
MAX_ENTRIES = 4096

Key = tuple[str, str, str, bytes]  # (provider, model, field, digest of the field's raw bytes)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A field value a candidate refused, in the vendor's words (scrubbed of secrets, as every failure's text)."""

    field: str
    message: str
    until: float


def _digest(raw: Raw | bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


class Refusals:
    """The memo: (provider, model, field, digest) -> the refusal, oldest first; a field index per candidate, so a
    request is hashed only for a candidate that has refused something."""

    def __init__(self, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._memo: dict[Key, Refusal] = {}
        self._fields: dict[tuple[str, str], set[str]] = {}  # (provider, model) -> fields with a refusal remembered

    def __len__(self) -> int:
        return len(self._memo)

    def remember(self, provider: str, model: str, field: str, raw: Raw | bytes, message: str, now: float) -> None:
        """``provider``/``model`` refused ``field`` with the value ``raw``: skip it for that value until TTL_S on."""
        key = (provider, model, field, _digest(raw))
        self._memo.pop(key, None)  # re-inserted last: the oldest entry is the first to go
        self._memo[key] = Refusal(field, message, now + self.ttl_s)
        self._fields.setdefault((provider, model), set()).add(field)
        while len(self._memo) > self.max_entries:
            del self._memo[next(iter(self._memo))]

    def refused(
        self, provider: str, model: str, raw_of: Callable[[str], Raw | bytes | None], now: float
    ) -> Refusal | None:
        """The refusal remembered for ``provider``/``model`` and a field of this request (``raw_of``: a field's raw
        bytes, None when absent), if any is still in force. Nothing is hashed unless that candidate has one."""
        for field in self._fields.get((provider, model), ()):
            raw = raw_of(field)
            if raw is None:
                continue
            key = (provider, model, field, _digest(raw))
            hit = self._memo.get(key)
            if hit is None:
                continue
            if hit.until > now:
                return hit
            del self._memo[key]
        return None
