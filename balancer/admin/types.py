"""The admin API's bodies, queries and answers: the types its handlers decode and encode with msgspec, and the
ones its OpenAPI document is generated from (so the two cannot disagree). Times are epoch seconds unless a
field is a date-time; money is CNY.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from balancer.config import Limits
from balancer.status import ProviderState, Status

Name = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="letters, digits, . _ -")]
Budget = Annotated[float, Meta(ge=0, description="CNY at list prices")]
When = Annotated[dt.datetime, Meta(tz=True, description="RFC 3339 with a time zone")]
# A limit as the config allows it (>= 0, 0 = unlimited), within what the state store and the logs count exactly.
Count = Annotated[int, Meta(ge=0, le=1 << 53, description="0 = unlimited")]


class _In(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class _Out(msgspec.Struct, kw_only=True):
    pass


# ---- queries -------------------------------------------------------------------------------------------


class NoQuery(_In):
    pass


class RefreshQuery(_In):
    provider: str | None = None  # comma-separated provider names; all when absent


class SpendQuery(_In):
    by: str = "day,key"  # comma-separated dimensions: day, key, route, provider
    days: Annotated[int, Meta(ge=1, le=40)] = 30  # the last N UTC days, today included
    key: str | None = None  # only this client key
    route: str | None = None
    provider: str | None = None


class FailuresQuery(_In):
    limit: Annotated[int, Meta(ge=1, le=200)] = 50


# ---- bodies --------------------------------------------------------------------------------------------


class KeyLimits(_In):
    """A client key's limits: requests and tokens per minute, requests in flight (0 = unlimited)."""

    rpm: Count = 0
    tpm: Count = 0
    concurrency: Count = 0


class ResetBody(_In):
    """What to reset on a provider: its models' breakers, its cooldowns (a drain is not a cooldown: undrain it)."""

    breaker: bool = True
    cooldown: bool = True


class KeySpec(_In):
    """A new client key. The secret is made by the gateway and shown once, in the answer."""

    name: Name
    routes: list[str] = msgspec.field(default_factory=lambda: ["*"])
    limits: KeyLimits = msgspec.field(default_factory=KeyLimits)
    daily_budget: Budget | None = None
    monthly_budget: Budget | None = None
    expires: When | None = None
    transcripts: bool = False


class KeyPatch(_In):
    """Changes to a client key made through the API (a field left out is kept; null removes a budget or expiry)."""

    routes: list[str] | UnsetType = UNSET
    limits: KeyLimits | UnsetType = UNSET
    daily_budget: Budget | UnsetType | None = UNSET
    monthly_budget: Budget | UnsetType | None = UNSET
    expires: When | UnsetType | None = UNSET
    transcripts: bool | UnsetType = UNSET


# ---- answers -------------------------------------------------------------------------------------------


class Providers(_Out):
    providers: list[ProviderState]


class Change(_Out):
    """A change made: who made it (the admin key's name), what, to what."""

    by: str
    what: str
    target: str
    provider: ProviderState | None = None


class Balances(_Out):
    balances: dict[str, dict[str, Any]]  # each provider's balance (total, granted, paid, currency) or {"error"}


class Point(_Out):
    t: float
    remaining: float  # tokens, or CNY for a money grant


class GrantBurn(_Out):
    """A grant's burn-down: what was left at the start of each recent day and now (``history``), and the plan's
    projection from now (``plan``: to its exhaustion, or to its expiry with what it would leave unspent; empty
    when neither falls within the planning horizon). ``value``: what one more unit of it would save as the plan
    prices it (¥ per million tokens for a token grant, ¥ per ¥ for a money grant; near the paid price it
    displaces when it runs short, 0 when some will be left over; None without a plan for it)."""

    provider: str
    grant: str
    unit: Literal["tokens", "money"]
    size: float
    remaining: float
    expires: float | None
    projected_exhaustion: float | None
    projected_waste: float
    at_risk: bool
    value: float | None
    history: list[Point]
    plan: list[Point]


class Grants(_Out):
    plan_made_at: float | None
    grants: list[GrantBurn]


class SpendRow(_Out):
    day: str | None = None  # YYYY-MM-DD (UTC), when grouped by day
    key: str | None = None
    route: str | None = None
    provider: str | None = None
    requests: int = 0
    tokens: int = 0
    cost_cny: float = 0.0  # list value: what budgets count
    paid_cny: float = 0.0  # the part paid from provider balances (the rest came from grants)


class Spend(_Out):
    by: list[str]
    since: str
    rows: list[SpendRow]
    total: SpendRow


class Failures(_Out):
    """This instance's last failed requests (their request_done records, newest first; a ring of 200)."""

    failures: list[dict[str, Any]]


class KeyView(_Out):
    name: str
    source: Literal["config", "api"]
    routes: list[str]
    limits: Limits
    daily_budget: float | None
    monthly_budget: float | None
    expires: dt.datetime | None
    created: dt.datetime | None
    transcripts: bool
    spent_today_cny: float
    spent_month_cny: float


class CreatedKey(KeyView):
    secret: str  # the key itself: shown this once, stored only as its sha256


class Keys(_Out):
    keys: list[KeyView]


Plan = dict[str, Any]  # the plan document (balancer plan's JSON)
__all__ = ["Plan", "Status"]
