"""Client keys and admin keys: who may call the gateway, and what each client key may use.

Client keys come from the config (``client_keys:``, sha256 hashes) and from the admin API (stored hashed in
the state store's :class:`~balancer.state.clients.KeyTable`: Redis when configured, so every instance shares
them). Each instance polls the table's version once a second and reloads it when it moved: a key created or
revoked anywhere is honoured everywhere within a second or two. A presented key is hashed once per distinct
key (a bounded cache by the key itself, emptied whenever the keys change). Admin keys (``admin_keys:``)
come from the config only and open ``/admin/`` alone; a client key never does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import Callable, Iterable, Mapping

import msgspec
import structlog
from redis.exceptions import RedisError

from balancer import tasks
from balancer.config import AdminKey, Config, Limits, hash_key
from balancer.errors import GatewayError
from balancer.logs import Lasting
from balancer.state.batch import Unreadable
from balancer.state.clients import KeyTable, Op

log = structlog.get_logger("balancer.clients")

POLL_S = 1.0
CACHE_MAX = 4096
SECRET_PREFIX = "sk-qiao-"  # noqa: S105 - the start of every key made here, not a secret


def presented_key(headers: Mapping[str, str]) -> str:
    """The key a request presents (``Authorization: Bearer``, or ``api-key``); a 401 when there is none."""
    header = headers.get("Authorization", "")
    key = header[7:].strip() if header[:7].lower() == "bearer " else headers.get("api-key", "")
    if not key:
        raise GatewayError(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            type="invalid_request_error",
            code="missing_api_key",
        )
    return key


class KeyRecord(msgspec.Struct, kw_only=True, frozen=True):
    """A client key as the gateway enforces it (the record the table stores for keys made through the API)."""

    name: str
    key_sha256: str
    routes: tuple[str, ...] = ("*",)
    transcripts: bool = False
    limits: Limits = Limits()
    daily_budget: float | None = None  # CNY, list value, per UTC day
    monthly_budget: float | None = None  # CNY per UTC month
    expires: float | None = None  # epoch seconds; the key is refused from then on
    created: float | None = None
    source: str = "api"  # "config" (YAML) or "api" (made through the admin API)

    @property
    def limited(self) -> bool:
        return bool(self.limits.rpm or self.limits.tpm or self.limits.concurrency)

    @property
    def budgeted(self) -> bool:
        return self.daily_budget is not None or self.monthly_budget is not None


def from_config(cfg: Config) -> dict[str, KeyRecord]:
    out = {}
    for k in cfg.client_keys:
        expires = None
        if k.expires is not None:  # the end of that UTC day, as a grant's expiry
            expires = dt.datetime.combine(k.expires, dt.time(), dt.UTC).timestamp() + 86400
        out[k.name] = KeyRecord(
            name=k.name, key_sha256=k.key_sha256, routes=tuple(k.routes), transcripts=k.transcripts,
            limits=k.limits, daily_budget=k.daily_budget, monthly_budget=k.monthly_budget, expires=expires,
            source="config",
        )  # fmt: skip
    return out


class KeyConflict(Exception):
    """A change the keys cannot take (the message says why)."""


class KeyTableUnavailable(Exception):
    """The shared key table (Redis) could not be reached: the change was not made, or its answer was lost."""


class Clients:
    """Every key this gateway accepts, looked up by the presented key (hashed once per distinct key)."""

    def __init__(self, table: KeyTable, watch: Callable[[Iterable[str]], None] = lambda _: None) -> None:
        self.table = table
        self._watch = watch  # told the names of the keys with budgets (the ledger pulls their spend)
        self.config: dict[str, KeyRecord] = {}
        self.made: dict[str, KeyRecord] = {}  # through the admin API, by name
        self.admins: dict[str, AdminKey] = {}  # by sha256
        self._by_hash: dict[str, KeyRecord] = {}
        self._cache: dict[str, KeyRecord] = {}
        self._admin_cache: dict[str, AdminKey] = {}
        self.version = -1
        self._unread = Lasting(log, "client_keys_unreadable", "client_keys_readable_again")  # the version is no integer
        self._task: asyncio.Task[None] | None = None

    def configure(self, cfg: Config) -> None:
        """The config's keys (start, reload)."""
        self.config = from_config(cfg)
        self.admins = {k.key_sha256: k for k in cfg.admin_keys}
        self._rebuild()

    def _rebuild(self) -> None:
        shadowed = sorted(set(self.made) & set(self.config))
        if shadowed:
            log.warning("client_key_shadowed", names=shadowed, why="a config key has the name; the config's wins")
        self._by_hash = {r.key_sha256: r for r in self.made.values() if r.name not in self.config}
        self._by_hash.update({r.key_sha256: r for r in self.config.values()})
        self._cache, self._admin_cache = {}, {}
        self._watch([r.name for r in self.records() if r.budgeted])

    def records(self) -> list[KeyRecord]:
        return sorted({r.name: r for r in self._by_hash.values()}.values(), key=lambda r: r.name)

    def get(self, name: str) -> KeyRecord | None:
        return self.config.get(name) or self.made.get(name)

    def lookup(self, key: str) -> KeyRecord | None:
        """The client key for a presented key, or None; hashes once per distinct key, not per request."""
        found = self._cache.get(key)
        if found is None:
            found = self._by_hash.get(hash_key(key))
            if found is not None:
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = found
        return found

    def admin(self, key: str) -> AdminKey | None:
        found = self._admin_cache.get(key)
        if found is None:
            found = self.admins.get(hash_key(key))
            if found is not None and len(self._admin_cache) < CACHE_MAX:
                self._admin_cache[key] = found
        return found

    # ---- the shared table --------------------------------------------------------------------------

    async def start(self) -> None:
        await self._refresh_quietly()
        self._task = tasks.spawn(self._poll, "key-sync")

    async def close(self) -> None:
        await tasks.stop(self._task)

    async def refresh(self) -> None:
        """Reload the table if its version moved."""
        if await self.table.version() == self.version:
            return
        version, records = await self.table.load()
        made = {}
        for name, text in records.items():
            try:
                made[name] = msgspec.json.decode(text, type=KeyRecord)
            except msgspec.DecodeError:
                log.error("client_key_unreadable", name=name)
        self.made, self.version = made, version
        self._rebuild()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            await self._refresh_quietly()

    async def _refresh_quietly(self) -> None:
        """Refresh; with Redis out of reach, or the table's version no integer (logged once), the table in use
        stays and the next poll tries again."""
        try:
            await self.refresh()
        except (RedisError, OSError):
            return
        except Unreadable as e:
            self._unread.fault(str(e), kept="the table in use")
            return
        self._unread.ok()

    async def create(self, record: KeyRecord) -> tuple[KeyRecord, str]:
        """Store a new key under ``record.name``; returns it with its secret (shown this once, stored hashed)."""
        if record.name in self.config:
            raise KeyConflict(f"A client key named '{record.name}' is defined in the config file.")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        record = msgspec.structs.replace(record, key_sha256=hash_key(secret), created=time.time(), source="api")
        if not await self._change("create", record.name, msgspec.json.encode(record).decode()):
            raise KeyConflict(f"A client key named '{record.name}' exists; revoke it first or pick another name.")
        await self._refreshed()
        return record, secret

    async def update(self, record: KeyRecord) -> KeyRecord:
        self._made_here(record.name)
        if not await self._change("update", record.name, msgspec.json.encode(record).decode()):
            raise KeyConflict(f"There is no client key named '{record.name}' (it was revoked).")
        await self._refreshed()
        return record

    async def revoke(self, name: str) -> None:
        self._made_here(name)
        if not await self._change("delete", name):
            raise KeyConflict(f"There is no client key named '{name}' (it was revoked).")
        await self._refreshed()

    async def _change(self, op: Op, name: str, record: str = "") -> bool:
        try:
            return await self.table.change(op, name, record)
        except (RedisError, OSError) as e:
            raise KeyTableUnavailable(f"{type(e).__name__}: {str(e)[:200]}") from None

    async def _refreshed(self) -> None:
        """Reload after a change that was made; if Redis went away just now, the poll reloads it later."""
        await self._refresh_quietly()

    def _made_here(self, name: str) -> None:
        if name in self.config:
            raise KeyConflict(
                f"The client key '{name}' is defined in the config file: change or remove it there, then reload."
            )
