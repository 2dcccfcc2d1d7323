"""The gateway's one YAML config file, validated with msgspec.

Every validation error names the exact path of the bad key (``routes.chat.candidates[1].provider``) and why.
Secrets (``${ENV_VAR}``, ``file:/path``) are resolved at load time (offline: only listed) and held in
:class:`~balancer.secrets.Secret`, whose ``repr`` never shows them; relative paths are the config file's directory's
(:mod:`balancer.config_paths`). What else the gateway would trip on is in :mod:`balancer.checks`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from balancer import config_yaml
from balancer.config_failover import Breaker, Failover
from balancer.config_numbers import check_numbers
from balancer.config_paths import anchored
from balancer.secrets import Reference, Secret, SecretError, expand
from balancer.vendors import REGISTRY
from balancer.vendors.base import Currency

_T = TypeVar("_T")


class ConfigError(Exception):
    """The config file is unusable; the message names the path of the bad key."""


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class Limits(_Strict, frozen=True):
    """An account's limits: requests and tokens per minute, requests in flight (0 = unlimited)."""

    rpm: int = 0
    tpm: int = 0
    concurrency: int = 0


class Timeouts(_Strict, frozen=True):
    connect_s: float = 5.0
    ttft_s: float = 30.0  # time to first token (streams) / to response headers (non-streams)
    idle_s: float = 30.0  # longest silence between two stream chunks
    total_s: float = 300.0  # one attempt, start to end


class Price(_Strict, frozen=True):
    """List prices per million tokens; overrides the vendor catalogue for one model of one provider."""

    input: float
    output: float
    cached_input: float | None = None  # None: cached input costs as much as input
    currency: Currency = "CNY"


class GrantConfig(_Strict, frozen=True):
    """A grant as the config writes it — free credit: ``tokens`` (a pack) or ``amount`` (money, in
    ``currency``), for ``models`` (empty: all)."""

    name: str
    tokens: int | None = None
    amount: float | None = None
    currency: Currency = "CNY"
    models: list[str] = []
    starts: dt.date | None = None
    expires: dt.date | None = None


class Account(_Strict, frozen=True):
    """A provider account's money: grants, the order the vendor debits them, paid balance and caps (CNY)."""

    grants: list[GrantConfig] = []
    # earliest_expiry: the grant that expires first is debited first (most vendors); listed: config order.
    debit_order: Literal["earliest_expiry", "listed"] = "earliest_expiry"
    paid_balance: float | None = None  # None: unknown / post-paid
    daily_cap: float | None = None  # paid spend per UTC day
    monthly_cap: float | None = None  # paid spend per UTC calendar month


class Money(_Strict, frozen=True):
    usd_cny: float = 7.2  # CNY per USD


class Provider(_Strict, frozen=True):
    """One vendor account: the unit that limits, balances and credentials attach to."""

    vendor: str
    api_key: Secret | None = None
    base_url: str | None = None  # overrides the vendor's (e.g. the emulator, a proxy, a region)
    limits: Limits = Limits()
    timeouts: Timeouts | None = None
    extra: dict[str, str] = {}  # vendor-specific settings (azure: api_version, deployment map)
    prices: dict[str, Price] = {}  # per model; overrides the vendor catalogue
    account: Account = Account()  # grants, paid balance, spend caps


class Candidate(_Strict, frozen=True):
    provider: str
    model: str
    weight: float = 1.0
    context_window: int | None = None  # overrides the vendor catalogue


class Route(_Strict, frozen=True):
    candidates: list[Candidate]
    strategy: str = "credit-burn"  # router.STRATEGIES; with no grant in play credit-burn is the cheapest healthy
    kind: Literal["chat", "embeddings"] = "chat"
    failover: Failover | None = None
    transcripts: bool = False  # capture this route's conversations (needs the top-level transcripts:)
    unserved_price: float | None = None  # CNY/Mtok a token no candidate serves costs (None: the dearest's price)


class AdminKey(_Strict, frozen=True):  # for the admin API and dashboard (/admin/); never a client key
    name: str
    key_sha256: str


class ClientKey(AdminKey, frozen=True):  # limits and budgets hold across instances; CNY at list price
    routes: list[str] = msgspec.field(default_factory=lambda: ["*"])
    transcripts: bool = False  # capture this key's conversations on every route
    limits: Limits = Limits()  # this key's requests and tokens per minute, requests in flight (0 = unlimited)
    daily_budget: float | None = None  # CNY per UTC day (None: none)
    monthly_budget: float | None = None  # CNY per UTC calendar month
    expires: dt.date | None = None  # usable up to the end of that UTC day


class Server(_Strict, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 8 << 20
    insecure_no_auth: bool = False
    drain_s: float = 30.0  # on SIGTERM, how long requests in flight may finish; then open streams are ended
    write_timeout_s: float = 30.0  # a client that accepts no byte of its stream for this long is gone
    # A request's head must arrive within this (new connection, or idle kept-alive one); a body within body_timeout_s.
    header_timeout_s: float = 30.0
    body_timeout_s: float = 30.0


class TranscriptsConfig(_Strict, frozen=True):
    """Where captured conversations go (the fine-tuning bridge's input); capture is opted into per
    route or client key with ``transcripts: true``."""

    directory: str = "var/transcripts"
    sample_rate: float = 1.0  # share captured; 0 pauses capture (every record dropped, the opt-ins kept)
    scrub_pii: bool = False
    max_bytes: int = 64 << 20
    queue_size: int = 10_000


class State(_Strict, frozen=True):
    """Where shared state lives. ``auto``: Redis when a URL is given here or in ``REDIS_URL``, else
    in-process memory (one instance). URLs: ``redis://``, ``rediss://`` (TLS),
    ``redis+sentinel://h1:26379,h2:26379/<service>[/db]``, ``redis+cluster://host:port``."""

    backend: Literal["auto", "memory", "redis"] = "auto"
    redis_url: str | None = None
    degraded_share: float = 1.0  # share of each limit an instance uses alone while Redis is away (1/replicas)

    def url(self) -> str | None:
        if self.backend == "memory":
            return None
        return self.redis_url or os.environ.get("REDIS_URL") or None


class Balances(_Strict, frozen=True):
    """Polling of vendor balance APIs (accounts whose vendor has none are never polled)."""

    enabled: bool = True
    interval_s: float = 600.0  # also how long an account with no funds stays out between polls
    timeout_s: float = 10.0


class Planning(_Strict, frozen=True):
    """The credit-burn planner: how often it re-plans and how early it aims to finish each grant."""

    replan_s: float = 300.0
    safety_margin: float = 0.05  # aim to exhaust a grant this share of its remaining window early
    horizon_days: float = 60.0


class Logging(_Strict, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Config(_Strict, frozen=True):
    providers: dict[str, Provider]
    routes: dict[str, Route]
    server: Server = Server()
    state: State = State()
    logging: Logging = Logging()
    client_keys: list[ClientKey] = []
    admin_keys: list[AdminKey] = []
    failover: Failover = Failover()
    breaker: Breaker = Breaker()
    timeouts: Timeouts = Timeouts()
    transcripts: TranscriptsConfig | None = None
    balances: Balances = Balances()
    money: Money = Money()
    planning: Planning = Planning()

    def route_failover(self, route: Route) -> Failover:
        return route.failover or self.failover

    def provider_timeouts(self, provider: Provider) -> Timeouts:
        return provider.timeouts or self.timeouts


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Secret and isinstance(obj, str):
        return Secret(obj)
    raise NotImplementedError


def _readable_path(msg: str, prefix: str = "") -> str:
    # msgspec says "... - at `$.routes[...].candidates[0]`"; we print the path first.
    m = re.search(r" - at `\$\.?(.*)`$", msg)
    if not m:
        return f"{prefix}: {msg}" if prefix else msg
    path = prefix + ("." if prefix and m.group(1) and not m.group(1).startswith("[") else "") + m.group(1)
    return f"{path or '(top level)'}: {msg[: m.start()]}"


def _convert(data: Any, type_: type[_T], prefix: str) -> _T:
    try:
        return msgspec.convert(data, type_, dec_hook=_dec_hook, strict=True)
    except msgspec.ValidationError as e:
        raise ConfigError(_readable_path(str(e), prefix)) from None


@dataclass(frozen=True, slots=True)
class Parsed:
    """A config, every ``${VAR}`` / ``file:`` it uses, and the paths whose values were not read (offline)."""

    cfg: Config
    references: tuple[Reference, ...]
    pending: frozenset[str] = frozenset()


def parse(data: Any, source: str = "config") -> Config:
    return parse_refs(data, source).cfg


def parse_refs(data: Any, source: str = "config", *, offline: bool = False, base: Path | None = None) -> Parsed:
    """The config, with its references (``offline``: none read; ``base``: what relative paths are relative to)."""
    try:
        data, refs = expand(data, offline=offline, base=base)
        # Named sections first, one entry at a time, so an error names the entry (msgspec: "[...]").
        for section, type_ in (("providers", Provider), ("routes", Route)):
            entries = data.get(section) if isinstance(data, dict) else None
            if isinstance(entries, dict):
                for name, entry in entries.items():
                    _convert(entry, type_, f"{section}.{name}")
        cfg = anchored(_convert(data, Config, ""), base)
    except (ConfigError, SecretError) as e:
        raise ConfigError(f"{source}: {e}") from None
    if problem := check_numbers(cfg):
        raise ConfigError(f"{source}: {problem}")
    pending = frozenset(r.where for r in refs) if offline else frozenset()
    _cross_check(cfg, source, pending)
    for name, prov in cfg.providers.items():  # a provider key names its reference in messages (never its value)
        origin = [str(r) for r in refs if r.where == f"providers.{name}.api_key"]
        if prov.api_key is not None and origin:
            prov.api_key.origin = " ".join(origin)
    return Parsed(cfg, tuple(refs), pending)


def load(path: str | Path) -> Config:
    return read(path).cfg


def read(path: str | Path, *, offline: bool = False) -> Parsed:
    """The config file at ``path`` with its references (``offline``: none read)."""
    p = Path(path)
    try:
        data = config_yaml.load(p.read_bytes())
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    except config_yaml.YamlError as e:
        raise ConfigError(f"{p}: not a usable YAML config: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping with providers: and routes:")
    return parse_refs(data, str(p), offline=offline, base=p.absolute().parent)


def _cross_check(cfg: Config, source: str, pending: frozenset[str] = frozenset()) -> None:
    """What a schema cannot say: names that refer to each other, vendors that exist, consistent accounts.
    (Strategy names are checked where routes are compiled: :func:`balancer.routes.compile_routes`.)"""
    for name, prov in cfg.providers.items():
        _check_provider(name, prov, source)
    for rname, route in cfg.routes.items():
        where = f"{source}: routes.{rname}"
        if not route.candidates:
            raise ConfigError(f"{where}.candidates: a route needs at least one candidate")
        for i, cand in enumerate(route.candidates):
            if cand.provider not in cfg.providers:
                raise ConfigError(f"{where}.candidates[{i}].provider: no provider named {cand.provider!r}")
    for section, entries in (("client_keys", cfg.client_keys), ("admin_keys", cfg.admin_keys)):
        names: set[str] = set()
        for i, key in enumerate(entries):
            known = f"{section}[{i}].key_sha256" not in pending  # offline, a ${VAR} hash is not read
            if known and not re.fullmatch(r"[0-9a-f]{64}", key.key_sha256):
                raise ConfigError(f"{source}: {section}[{i}].key_sha256: expected 64 lowercase hex chars")
            if key.name in names:
                raise ConfigError(f"{source}: {section}[{i}].name: duplicate name {key.name!r}")
            names.add(key.name)
            if unknown := [r for r in getattr(key, "routes", ()) if r != "*" and r not in cfg.routes]:
                raise ConfigError(f"{source}: {section}[{i}].routes: no route named {unknown[0]!r}")


def _check_provider(name: str, prov: Provider, source: str) -> None:
    if prov.vendor not in REGISTRY:
        close = difflib.get_close_matches(prov.vendor, list(REGISTRY), n=1)
        hint = f"did you mean {close[0]!r}? known: " if close else ""
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError(f"{source}: providers.{name}.vendor: unknown vendor {prov.vendor!r} ({hint}{known})")
    try:
        REGISTRY[prov.vendor].configured(prov.extra)
    except (ValueError, KeyError) as e:
        raise ConfigError(f"{source}: providers.{name}.extra: malformed quirk override ({e})") from None
    if problem := check_account(prov.account, f"providers.{name}.account"):
        raise ConfigError(f"{source}: {problem}")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_account(account: Account, where: str) -> str | None:
    """A config error message for an inconsistent account, or None."""
    names: set[str] = set()
    for i, g in enumerate(account.grants):
        at = f"{where}.grants[{i}]"
        if (g.tokens is None) == (g.amount is None):
            return f"{at}: give exactly one of tokens or amount"
        if g.name in names:
            return f"{at}.name: duplicate grant name {g.name!r}"
        if g.starts and g.expires and g.expires < g.starts:
            return f"{at}.expires: before starts"
        if g.expires == dt.date.max:  # it ends at the midnight after: a date no calendar holds
            return f"{at}.expires: {g.expires} is past the last date the gateway can plan; leave it out: no expiry"
        names.add(g.name)
    return None
