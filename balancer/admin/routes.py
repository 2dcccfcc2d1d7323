"""The admin API's route table: every operation's method, path, handler, query, body and answer types.

One table serves the router (:func:`balancer.admin.register`), the handlers' decoding and encoding
(:func:`balancer.admin.handlers.wrap`) and the OpenAPI document (:mod:`balancer.admin.openapi`), so the
document cannot drift from what is served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from balancer.admin import types as T


@dataclass(frozen=True, slots=True)
class Op:
    method: str
    path: str
    handler: str  # the name of the Admin method that serves it
    summary: str
    answer: Any  # the answer's type
    query: type = T.NoQuery
    body: type | None = None
    status: int = 200
    changes: bool = False  # logged as admin_change
    errors: tuple[int, ...] = ()  # besides 401/403 (and 400 for a body or query)


Handler = Callable[..., Awaitable[Any]]

OPS: tuple[Op, ...] = (
    Op("GET", "/admin/status", "status", "Everything the dashboard shows at once: providers, state store, plan.",
       T.Status),
    Op("GET", "/admin/providers", "providers",
       "Each provider's live state (up, partial, cooling_down, disabled, drained), models, limits, quota this "
       "minute, last balance, grants and paid spend against its caps.", T.Providers),
    Op("POST", "/admin/providers/{name}/drain", "drain",
       "Take a provider out of rotation on every instance until it is undrained.", T.Change, changes=True,
       errors=(404,)),
    Op("POST", "/admin/providers/{name}/undrain", "undrain", "Put a drained provider back into rotation.",
       T.Change, changes=True, errors=(404,)),
    Op("POST", "/admin/providers/{name}/reset", "reset",
       "Close its models' breakers and end its cooldowns (a bad key or an empty balance included) on every "
       "instance; a drain stays.", T.Change, body=T.ResetBody, changes=True, errors=(404,)),
    Op("POST", "/admin/balances/refresh", "refresh_balances",
       "Poll vendor balances now (all providers, or those named); each balance or its error.", T.Balances,
       query=T.RefreshQuery, changes=True, errors=(404,)),
    Op("GET", "/admin/plan", "plan", "Re-plan credit burn from the ledger now; the plan document (as balancer plan).",
       T.Plan, errors=(503,)),
    Op("GET", "/admin/grants", "grants",
       "Each grant's burn-down: what was left each recent day, and the plan in force's projection.", T.Grants),
    Op("GET", "/admin/spend", "spend",
       "What client keys spent (list value, and the part paid), grouped by day, key, route and/or provider.",
       T.Spend, query=T.SpendQuery),
    Op("GET", "/admin/failures", "failures",
       "This instance's most recent failed requests: answered with an error, or served after a failover.",
       T.Failures, query=T.FailuresQuery),
    Op("GET", "/admin/keys", "keys", "Every client key (config and API-made), with its spend today and this month.",
       T.Keys),
    Op("POST", "/admin/keys", "create_key",
       "Make a client key; its secret is in this answer only (stored as its sha256).", T.CreatedKey,
       body=T.KeySpec, status=201, changes=True, errors=(409, 503)),
    Op("GET", "/admin/keys/{name}", "key", "One client key.", T.KeyView, errors=(404,)),
    Op("PATCH", "/admin/keys/{name}", "update_key",
       "Change an API-made key's routes, limits, budgets or expiry (config keys change in the config).",
       T.KeyView, body=T.KeyPatch, changes=True, errors=(404, 409, 503)),
    Op("DELETE", "/admin/keys/{name}", "revoke_key",
       "Revoke an API-made key; every instance refuses it within about two seconds.", T.Change, changes=True,
       errors=(404, 409, 503)),
)  # fmt: skip

# Not JSON operations, listed in the document too: the dashboard (no key needed: it holds no data, and asks for
# an admin key in the page) and this document.
PAGES = (
    ("/admin/", "dashboard", "The dashboard (HTML).", 200),
    ("/admin/static/{file}", "dashboard_file", "The dashboard's script and style sheet.", 200),
    ("/admin", "dashboard_redirect", "Redirects to the dashboard, /admin/.", 302),
)
DOCUMENT = "/admin/openapi.json"
