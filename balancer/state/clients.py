"""Client keys made through the admin API, stored (hashed) where the shared state lives.

A table of records by key name (the record holds the key's sha256, never the key) and a version that moves
with every change. Instances poll the version (one GET a second, off the request path) and reload the table
when it moved, so a key created or revoked on one instance is honoured by every instance within a second or
two. :class:`MemoryKeyTable` serves one instance; :class:`RedisKeyTable` shares the table through Redis.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from balancer.state import keys
from balancer.state.batch import count
from balancer.state.scripts import lua

Op = Literal["create", "update", "delete"]


class KeyTable(Protocol):
    async def version(self) -> int:
        """The table's version: it moves with every change."""
        ...

    async def load(self) -> tuple[int, dict[str, str]]:
        """The version and every record (name -> JSON), read together."""
        ...

    async def change(self, op: Op, name: str, record: str = "") -> bool:
        """Create (False if the name is taken), update or delete (False if there is no such name) a record."""
        ...


class MemoryKeyTable:
    def __init__(self) -> None:
        self._records: dict[str, str] = {}
        self._version = 0

    async def version(self) -> int:
        return self._version

    async def load(self) -> tuple[int, dict[str, str]]:
        return self._version, dict(self._records)

    async def change(self, op: Op, name: str, record: str = "") -> bool:
        if (op == "create") == (name in self._records):
            return False
        if op == "delete":
            del self._records[name]
        else:
            self._records[name] = record
        self._version += 1
        return True


class RedisKeyTable:
    """The table in one Redis hash (hash tag ``{clients}``: the records and their version share a slot)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._change = client.register_script(lua("clientkeys"))

    async def version(self) -> int:
        return count(keys.CLIENT_KEYS_VERSION, await self.client.get(keys.CLIENT_KEYS_VERSION) or 0)

    async def load(self) -> tuple[int, dict[str, str]]:
        pipe = self.client.pipeline(transaction=True)
        pipe.get(keys.CLIENT_KEYS_VERSION)
        pipe.hgetall(keys.CLIENT_KEYS)
        version, records = await pipe.execute()
        return count(keys.CLIENT_KEYS_VERSION, version or 0), {str(k): str(v) for k, v in (records or {}).items()}

    async def change(self, op: Op, name: str, record: str = "") -> bool:
        got = await self._change(keys=[keys.CLIENT_KEYS, keys.CLIENT_KEYS_VERSION], args=[op, name, record])
        return bool(int(got))
