"""What a client key may use, enforced on the request path: expiry, budgets, RPM/TPM/concurrency.

Limits go through the state store exactly as a vendor account's do: the key is the account ``key:<name>`` in
``admit``/``settle`` (with Redis: leased slices of the key's minute budget and batched settles, so a key with
limits costs no Redis round trip per request, and a key without costs nothing). Budgets are checked against
the ledger's per-key spend today and this month (list value, CNY): a local read, which the Redis ledger keeps
within ~2 s of the cluster's figure. Refusals are OpenAI's 429s: ``rate_limit_exceeded`` (which limit, when
it resets) and ``insufficient_quota`` (which budget, spent and limit, when it resets); an expired key is a 401.
"""

from __future__ import annotations

import datetime as dt
import math

from balancer import wire
from balancer.clients import KeyRecord
from balancer.config_failover import Breaker
from balancer.credit.ledger import Ledger
from balancer.credit.pricing import MICRO
from balancer.errors import GatewayError
from balancer.state import Admission, StateStore

NO_BREAKER = Breaker(consecutive_failures=1 << 30, min_requests=1 << 30)  # a key's "account" never trips


def account(key: KeyRecord) -> str:
    return f"key:{key.name}"


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _cny(value: float) -> str:
    """¥ with two decimals, or four significant digits below a fen (a budget of ¥0.001 is not "¥0.00")."""
    return f"¥{value:.2f}" if value == 0 or abs(value) >= 0.01 else f"¥{value:.4g}"


def _wait(seconds: float) -> str:
    s = max(1, math.ceil(seconds))
    return f"{s}s" if s < 120 else f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def unexpired(key: KeyRecord, now: float) -> None:
    """An expired key is a 401 ``expired_api_key``."""
    if key.expires is not None and now >= key.expires:
        raise GatewayError(
            401,
            f"This client key ('{key.name}') expired at {_iso(key.expires)}; ask the gateway's operator for a new one.",
            code="expired_api_key",
        )


def within_budget(key: KeyRecord, ledger: Ledger, now: float) -> None:
    """A key over its daily or monthly budget is a 429 ``insufficient_quota``; cheap, local."""
    today, month = ledger.client_spent(key.name, now)
    for budget, spent, period in ((key.daily_budget, today, "daily"), (key.monthly_budget, month, "monthly")):
        if budget is not None and spent >= budget * MICRO:
            resets = _next_day(now) if period == "daily" else _next_month(now)
            raise GatewayError(
                429,
                f"Client key '{key.name}' has used its {period} budget: {_cny(spent / MICRO)} spent of "
                f"{_cny(budget)} ({'today' if period == 'daily' else 'this month'}, UTC, at list prices). It resets at "
                f"{_iso(resets)} (in {_wait(resets - now)}); the operator can raise it.",
                type="insufficient_quota",
                code="insufficient_quota",
                headers={"Retry-After": str(max(1, math.ceil(resets - now)))},
            )


def _next_day(now: float) -> float:
    return (math.floor(now / 86400) + 1) * 86400.0


def _next_month(now: float) -> float:
    d = dt.datetime.fromtimestamp(now, dt.UTC)
    first = dt.datetime(d.year + d.month // 12, d.month % 12 + 1, 1, tzinfo=dt.UTC)
    return first.timestamp()


def tokens(view: wire.RequestView) -> int:
    """Tokens to reserve against the key's TPM before the reply says (as for an account: the prompt ≈ bytes / 3,
    plus the completion budget); settled to the real figure at the end."""
    return view.size_bytes // 3 + min(view.max_tokens or 1024, 4096) * view.n


async def enforce(
    key: KeyRecord, view: wire.RequestView, store: StateStore, ledger: Ledger, now: float
) -> Admission | None:
    """The key's budgets, then its limits: the reservation to settle at the request's end (None: no limits)."""
    if key.budgeted:
        within_budget(key, ledger, now)
    return await admit(store, key, view, now) if key.limited else None


async def admit(store: StateStore, key: KeyRecord, view: wire.RequestView, now: float) -> Admission:
    """Reserve one request (and its tokens) against the key's limits, or raise the 429 naming the limit."""
    adm = await store.admit(account(key), "", key.limits, tokens(view), NO_BREAKER, now)
    if adm.ok:
        return adm
    lim = key.limits
    what = {
        "rpm": ("requests", f"requests per minute (RPM): limit {lim.rpm}"),
        "tpm": ("tokens", f"tokens per minute (TPM): limit {lim.tpm}, this request needs about {tokens(view)}"),
        "concurrency": ("requests", f"requests in flight (concurrency): limit {lim.concurrency}"),
    }.get(adm.reason, ("requests", adm.reason))
    wait = max(0.0, adm.retry_at - now)
    when = "when one of its requests ends" if adm.reason == "concurrency" else f"in {_wait(wait)}"
    raise GatewayError(
        429,
        f"Rate limit reached for client key '{key.name}' on {what[1]}. The limit resets {when}; retry then, "
        "or ask the operator to raise it.",
        type=what[0],
        code="rate_limit_exceeded",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


async def settle(store: StateStore, adm: Admission, tokens_used: int, now: float) -> None:
    await store.settle(adm, tokens_used, "neutral", 0.0, NO_BREAKER, now)
