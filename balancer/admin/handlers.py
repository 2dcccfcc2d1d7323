"""The admin API's handlers, bound to one gateway. Each is wrapped by :func:`wrap`: an admin key is required
(a client key gets 403 ``admin_key_required``), the query and body are decoded into the operation's types
(a 400 naming the field otherwise), the answer is encoded from its type, and a change is logged as
``admin_change`` with the admin key's name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from aiohttp import web

from balancer import status
from balancer.admin import spend as spend_view
from balancer.admin import types as T
from balancer.admin.routes import Op
from balancer.api import Api
from balancer.clients import KeyConflict, KeyRecord, KeyTableUnavailable, presented_key
from balancer.config import AdminKey, Limits
from balancer.errors import GatewayError
from balancer.gateway import Gateway
from balancer.intake import CLIENT, read_body
from balancer.logs import describe

log = structlog.get_logger("balancer.admin")
JSON = "application/json"


@dataclass(slots=True)
class Call:
    request: web.Request
    who: AdminKey
    query: Any
    body: Any

    def name(self) -> str:
        return self.request.match_info["name"]


def authorise(gw: Gateway, request: web.Request) -> AdminKey:
    """The admin key a request presents: 401 without a valid key, 403 for a client key."""
    key = presented_key(request.headers)
    found = gw.clients.admin(key) if key.isascii() else None
    if found is not None:
        return found
    client = gw.clients.lookup(key) if key.isascii() else None
    if client is not None:
        request[CLIENT] = client.name  # the request_done line names it
        raise GatewayError(
            403,
            "This is a client key; /admin/ needs an admin key (admin_keys: in the config, "
            "'balancer hash-key <key>' makes the hash).",
            type="permission_error",
            code="admin_key_required",
        )
    none = "" if gw.clients.admins else " This gateway has none: add admin_keys: to its config and reload."
    raise GatewayError(
        401,
        "Incorrect admin key provided. Send one of the config's admin_keys as 'Authorization: Bearer <key>'." + none,
        type="invalid_request_error",
        code="invalid_api_key",
    )


def _decode(data: Any, type_: type, where: str, param: str | None = None) -> Any:
    try:
        if where == "query":
            return msgspec.convert(data, type_, strict=False)
        return msgspec.json.decode(data or b"{}", type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise GatewayError(400, f"Invalid {where}: {e}", code="invalid_" + where, param=param) from None


def wrap(admin: Admin, op: Op) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    handler = getattr(admin, op.handler)

    async def served(request: web.Request) -> web.StreamResponse:
        who = authorise(admin.gw, request)
        query = _decode(dict(request.query), op.query, "query")
        data = await read_body(request, admin.gw.cfg.server.body_timeout_s) if op.body is not None else b""
        body = _decode(data, op.body, "body") if op.body is not None else None
        try:
            answer = await handler(Call(request, who, query, body))
        except KeyTableUnavailable as e:
            log.warning("admin_change_failed", who=who.name, op=op.handler, error=str(e))
            raise GatewayError(
                503,
                "The shared state store (Redis) cannot be reached, so the client key table cannot be changed now; "
                "the change was not made (or its answer was lost). Retry when GET /readyz no longer says degraded.",
                type="server_error",
                code="state_store_unavailable",
                headers={"Retry-After": "5"},
            ) from None
        return web.Response(body=msgspec.json.encode(answer), status=op.status, content_type=JSON)

    return served


def _not_found(what: str, name: str, hint: str) -> GatewayError:
    code = what.replace(" ", "_") + "_not_found"
    return GatewayError(404, f"There is no {what} named '{name[:100]}'; {hint}.", code=code)


class Admin:
    """Handlers over one gateway (and its API, whose ring of recent failures they read)."""

    def __init__(self, gw: Gateway, api: Api) -> None:
        self.gw, self.api = gw, api

    def _changed(self, call: Call, what: str, target: str, **detail: Any) -> None:
        log.info("admin_change", who=call.who.name, what=what, target=target, **detail)

    async def _provider(self, name: str) -> status.ProviderState:
        if name not in self.gw.cfg.providers:
            raise _not_found("provider", name, "GET /admin/providers lists them")
        snap = await status.snapshot(self.gw)
        return next(p for p in snap.providers if p.name == name)

    async def status(self, call: Call) -> status.Status:
        return await status.snapshot(self.gw)

    async def providers(self, call: Call) -> T.Providers:
        return T.Providers(providers=list((await status.snapshot(self.gw)).providers))

    async def drain(self, call: Call) -> T.Change:
        name = (await self._provider(call.name())).name
        await status.drain(self.gw, name)
        self._changed(call, "drain", name)
        return T.Change(by=call.who.name, what="drain", target=name, provider=await self._provider(name))

    async def undrain(self, call: Call) -> T.Change:
        name = (await self._provider(call.name())).name
        await status.undrain(self.gw, name)
        self._changed(call, "undrain", name)
        return T.Change(by=call.who.name, what="undrain", target=name, provider=await self._provider(name))

    async def reset(self, call: Call) -> T.Change:
        before = await self._provider(call.name())
        body: T.ResetBody = call.body
        store, name = self.gw.store, before.name
        for m in before.models:
            if body.breaker:
                await store.reset_breaker(f"{name}/{m.model}")
            if body.cooldown:
                await store.clear(f"{name}/{m.model}", "")
        if body.cooldown and before.reason and before.state != status.DRAINED:
            await store.clear(name, before.reason)
        what = "reset:" + "+".join(w for w, on in (("breaker", body.breaker), ("cooldown", body.cooldown)) if on)
        self._changed(call, what, name, was=before.state)
        return T.Change(by=call.who.name, what=what, target=name, provider=await self._provider(name))

    async def refresh_balances(self, call: Call) -> T.Balances:
        if self.gw.balances is None:
            raise GatewayError(503, "The gateway is not started.", type="service_unavailable")
        names = call.query.provider.split(",") if call.query.provider else None
        for name in names or ():
            if name not in self.gw.cfg.providers:
                raise _not_found("provider", name, "GET /admin/providers lists them")
        self._changed(call, "refresh_balances", ",".join(names or ["*"]))
        results = await self.gw.balances.refresh(names)
        out = {n: {"error": r} if isinstance(r, str) else dataclasses.asdict(r) for n, r in results.items()}
        return T.Balances(balances=out)

    async def plan(self, call: Call) -> T.Plan:
        try:
            return await self.gw.replan()
        except Exception as e:  # recorded and logged by replan
            raise GatewayError(
                503,
                f"The re-plan failed ({describe(e)}); the plan in force stays. GET /admin/status shows since "
                "when (plan.error).",
                type="server_error",
                code="replan_failed",
            ) from None

    async def grants(self, call: Call) -> T.Grants:
        return await spend_view.grants(self.gw)

    async def spend(self, call: Call) -> T.Spend:
        return await spend_view.spend(self.gw, call.query)

    async def failures(self, call: Call) -> T.Failures:
        return T.Failures(failures=list(reversed(self.api.failures))[: call.query.limit])

    # ---- client keys ---------------------------------------------------------------------------------

    def _key(self, name: str) -> KeyRecord:
        found = self.gw.clients.get(name)
        if found is None:
            raise _not_found("client key", name, "GET /admin/keys lists them")
        return found

    def _routes(self, routes: list[str]) -> tuple[str, ...]:
        unknown = [r for r in routes if r != "*" and r not in self.gw.routes]
        if unknown:
            raise GatewayError(400, f"No route named '{unknown[0][:100]}'.", code="unknown_route", param="routes")
        return tuple(routes)

    async def keys(self, call: Call) -> T.Keys:
        return T.Keys(keys=[spend_view.key_view(self.gw, r) for r in self.gw.clients.records()])

    async def key(self, call: Call) -> T.KeyView:
        return spend_view.key_view(self.gw, self._key(call.name()))

    async def create_key(self, call: Call) -> T.CreatedKey:
        spec: T.KeySpec = call.body
        record = KeyRecord(
            name=spec.name, key_sha256="", routes=self._routes(spec.routes), transcripts=spec.transcripts,
            limits=_config_limits(spec.limits), daily_budget=spec.daily_budget, monthly_budget=spec.monthly_budget,
            expires=_epoch(spec.expires) if spec.expires else None,
        )  # fmt: skip
        try:
            made, secret = await self.gw.clients.create(record)
        except KeyConflict as e:
            raise GatewayError(409, str(e), code="key_exists") from None
        self._changed(call, "create_key", made.name, **_limits(made))
        view = spend_view.key_view(self.gw, made)
        return T.CreatedKey(**msgspec.structs.asdict(view), secret=secret)

    async def update_key(self, call: Call) -> T.KeyView:
        patch: T.KeyPatch = call.body
        changes = {f: v for f in patch.__struct_fields__ if (v := getattr(patch, f)) is not msgspec.UNSET}
        if "routes" in changes:
            changes["routes"] = self._routes(changes["routes"])
        if "limits" in changes:
            changes["limits"] = _config_limits(changes["limits"])
        if changes.get("expires") is not None:
            changes["expires"] = _epoch(changes["expires"])
        record = msgspec.structs.replace(self._key(call.name()), **changes)
        try:
            await self.gw.clients.update(record)
        except KeyConflict as e:
            raise GatewayError(409, str(e), code="key_not_changeable") from None
        self._changed(call, "update_key", record.name, **_limits(record))
        return spend_view.key_view(self.gw, record)

    async def revoke_key(self, call: Call) -> T.Change:
        name = self._key(call.name()).name
        try:
            await self.gw.clients.revoke(name)
        except KeyConflict as e:
            raise GatewayError(409, str(e), code="key_not_changeable") from None
        self._changed(call, "revoke_key", name)
        return T.Change(by=call.who.name, what="revoke_key", target=name)


def _config_limits(limits: T.KeyLimits) -> Limits:
    return Limits(rpm=limits.rpm, tpm=limits.tpm, concurrency=limits.concurrency)


def _epoch(when: dt.datetime) -> float:
    """An expiry as epoch seconds; a 400 when it is no UTC date-time (year 1 at +14:00 is year 0 in UTC)."""
    try:
        return when.astimezone(dt.UTC).timestamp()
    except OverflowError:
        raise GatewayError(
            400, "Invalid body: 'expires' is outside the years 1-9999 in UTC - at `$.expires`",
            code="invalid_body", param="expires",
        ) from None  # fmt: skip


def _limits(r: KeyRecord) -> dict[str, Any]:
    return {
        "routes": list(r.routes), "rpm": r.limits.rpm, "tpm": r.limits.tpm, "concurrency": r.limits.concurrency,
        "daily_budget": r.daily_budget, "monthly_budget": r.monthly_budget, "expires": r.expires,
    }  # fmt: skip
