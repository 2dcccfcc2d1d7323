"""Every Redis key the gateway uses, built here and nowhere else.

Prefix ``qiao:v1:``. Per-account keys carry the hash tag ``{acct:<name>}`` so each atomic operation
touches one Redis Cluster slot (the shared ledger's per-route keys carry ``{<route>}``); the health
index is one key (one slot) on purpose: it is written only when something fails, and read whole when an
instance (re)connects.
"""

from __future__ import annotations

PREFIX = "qiao:v1:"
HEALTH = PREFIX + "{health}"  # hash: "cd:<key>" -> "until|reason", "br:<provider/model>" -> "until"
EVENTS = PREFIX + "events"  # pub/sub channel: health changes, "<kind>|<field>|<until>|<reason>"
WINDOW_TTL_S = 180  # a minute window's usage outlives its minute for late settles, then expires
USAGE_TTL_S = 40 * 86400


def _acct(provider: str) -> str:
    """An account's key prefix, hash tag included."""
    return f"{PREFIX}{{acct:{provider}}}"


def window(provider: str, window_id: int) -> str:
    """RPM/TPM budget handed out (as leases) in one minute window of an account."""
    return f"{_acct(provider)}:win:{window_id}"


def inflight(provider: str) -> str:
    """Sorted set of in-flight reservations (member = reservation id, score = expiry)."""
    return f"{_acct(provider)}:inflight"


def usage(provider: str, day: str) -> str:
    """Requests and tokens served per account per UTC day (batched counters)."""
    return f"{_acct(provider)}:usage:{day}"


# ---- the shared ledger (ledger_redis.py) --------------------------------------------------------------


def grant_used(provider: str, grant: str) -> str:
    """Units debited from a grant (tokens, or µ¥ for money grants). INCRBY."""
    return f"{_acct(provider)}:grant:{grant}:used"


def paid_remaining(provider: str) -> str:
    """Paid balance left, µ¥. SETNX from config at start, INCRBY -cost per booking, SET by reconcile."""
    return f"{_acct(provider)}:paid:remaining"


def paid_day(provider: str, day: str) -> str:
    """Paid spend in a UTC day, µ¥ (daily spend cap). INCRBY; TTL 40 days."""
    return f"{_acct(provider)}:paid:day:{day}"


def paid_month(provider: str, month: str) -> str:
    """Paid spend in a UTC month, µ¥ (monthly spend cap). INCRBY; TTL 400 days."""
    return f"{_acct(provider)}:paid:month:{month}"


def book_day(provider: str, day: str) -> str:
    """Per-day book: HINCRBY "<model>|<bucket>|<requests|tokens|micro|estimated>"; bucket: grant or "paid"."""
    return f"{_acct(provider)}:book:{day}"


def traffic(route: str, hour: int) -> str:
    """Tokens served per route per hour (the planner's traffic rate). INCRBY; TTL 8 days. The route is
    the hash tag: its hours share a slot, so a re-plan reads them with one MGET per route (Cluster too)."""
    return f"{PREFIX}traffic:{{{route}}}:{hour}"


def mix(route: str) -> str:
    """Prompt and all tokens per route (the input/output mix for blended prices). HINCRBY prompt, all."""
    return f"{PREFIX}mix:{{{route}}}"


ROUTES = PREFIX + "routes"  # set: the routes that have traffic keys (what an instance pulls for its forecast)


def cooldown_field(key: str) -> str:
    return f"cd:{key}"


def breaker_field(key: str) -> str:
    return f"br:{key}"


def slot_tag(key: str) -> str:
    """A key's hash tag (what Redis Cluster hashes): the text inside its first ``{...}``."""
    start = key.index("{") + 1
    return key[start : key.index("}", start)]


def applied(tag: str, origin: str) -> str:
    """The highest batch number of ``origin`` (one gateway process) applied in ``tag``'s slot (apply.lua)."""
    return f"{PREFIX}{{{tag}}}:applied:{origin}"


# ---- client keys made through the admin API (state/clients.py) and what each key spent (credit/spend.py) -------

CLIENT_KEYS = PREFIX + "{clients}:keys"  # hash: key name -> its record (JSON, the key's sha256, never the key)
CLIENT_KEYS_VERSION = PREFIX + "{clients}:version"  # INCR on every change: instances reload when it moves
CLIENTS = PREFIX + "clients"  # set: the client keys that have spend books (what the admin spend view reads)


def _client(name: str) -> str:
    return f"{PREFIX}{{client:{name}}}"


def client_book(name: str, day: str) -> str:
    """What one client key spent in a UTC day: HINCRBY "<route>|<provider>|<requests|tokens|micro|paid>"."""
    return f"{_client(name)}:book:{day}"


def client_spent(name: str, period: str) -> str:
    """A client key's list-price spend (µ¥) in a UTC day (YYYYMMDD) or month (YYYYMM): its budgets. INCRBY."""
    return f"{_client(name)}:spent:{period}"


# ---- Idempotency-Key replies (state/replies.py) -------------------------------------------------------


def reply(scope: str) -> str:
    """An Idempotency-Key's kept reply, or the claim of the request answering it (``scope``: a sha256 of the
    client's Authorization and the key, never the key itself)."""
    return f"{PREFIX}reply:{scope}"
