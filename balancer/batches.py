"""OpenAI's batch API, served through the gateway's accounts: ``POST /v1/files`` (``purpose=batch``),
``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET /v1/files/{id}/content``.

Authenticated with client keys like ``/v1/chat/completions``. Every line of an uploaded file names a route in
``body.model`` (one route per file, one the key may use; the file's reading and checks:
:mod:`balancer.batch_files`). On upload the gateway picks the route's first
candidate — in the route's order, available ones first — whose vendor has a batch API
(:class:`~balancer.vendors.base.BatchApi`: Qwen/DashScope, Zhipu, OpenAI), rewrites each line's ``model`` to
that candidate's model and its ``url`` to the vendor's batch endpoint, and uploads the file to that account;
the batch is then created on the same account. The client sees the gateway's own ids (``file-qiao-…``,
``batch_qiao_…``), each seen only by the client key that made it (another key gets a 404); what each stands
for — provider, the vendor's id, route, model, client key — is remembered in Redis
when the state store has it (so any instance or worker can answer; kept 30 days), else in this process's
memory.

A batch's usage is booked in the ledger exactly once, when a poll first sees it ``completed``: its output
file is read, and each answered line becomes a charge on the provider at the vendor's batch price
(``price_factor``, e.g. half the list price), to the client key that made the batch (its spend and
budgets, as for its chat requests). The claim is a Redis ``SET NX`` (or a set in memory), taken
after the output is in hand, so a download that fails leaves the booking to the next poll.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
import orjson
import structlog
from aiohttp import web

from balancer import batch_files, keylimits, wire
from balancer.clients import KeyRecord
from balancer.credit.ledger import Charge
from balancer.errors import GatewayError
from balancer.gateway import Gateway
from balancer.intake import allowed, authenticate, read_body
from balancer.routes import Choice
from balancer.vendors.base import BatchApi

log = structlog.get_logger("balancer.batches")

KEEP_S = 30 * 86400
_PREFIX = "qiao:v1:batch:"


class Record(msgspec.Struct, kw_only=True):
    """What a gateway id stands for."""

    kind: str  # "file" or "batch"
    provider: str
    vendor_id: str
    route: str
    model: str
    client: str = ""  # the client key that made it ("" without keys): no other key sees it


_records = msgspec.json.Decoder(Record)


class Registry:
    """Gateway ids -> records, and the once-only booking claims: Redis when the store has it, else memory."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self._memory: dict[str, bytes] = {}
        self._claimed: set[str] = set()

    async def put(self, gid: str, record: Record) -> None:
        data = msgspec.json.encode(record)
        redis = self.gw.store.redis
        if redis is None:
            self._memory[gid] = data
        else:
            await redis.set(_PREFIX + gid, data, ex=KEEP_S)

    async def get(self, gid: str, kind: str, client: str) -> Record:
        """The record of ``gid``, if it is a ``kind`` the client key ``client`` made: else 404, as for no id."""
        redis = self.gw.store.redis
        data = self._memory.get(gid) if redis is None else await redis.get(_PREFIX + gid)
        record = _records.decode(data) if data else None
        if record is None or record.kind != kind or record.client != client:
            raise GatewayError(404, f"No {kind} with id {gid[:80]!r}.", code="not_found")
        return record

    async def claim(self, gid: str) -> bool:
        """True exactly once per batch id, across every instance sharing the store."""
        redis = self.gw.store.redis
        if redis is None:
            first = gid not in self._claimed
            self._claimed.add(gid)
            return first
        return bool(await redis.set(_PREFIX + "booked:" + gid, b"1", nx=True, ex=KEEP_S))


@dataclass(frozen=True, slots=True)
class Account:
    """A candidate's account as the batch API reaches it."""

    choice: Choice
    api: BatchApi

    def url(self, path: str) -> str:
        return (self.choice.provider.base_url or self.choice.vendor.base_url).rstrip("/") + path


class Batches:
    """The four batch endpoints, bound to one gateway."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.registry = Registry(gw)

    async def upload(self, request: web.Request) -> web.Response:
        key = self._admit(request)
        purpose, name, data = await batch_files.read_upload(request, self.gw.cfg.server.body_timeout_s)
        if purpose != "batch":
            raise GatewayError(400, f"purpose must be 'batch', not {purpose[:40]!r}.", code="invalid_value",
                               param="purpose")  # fmt: skip
        lines = batch_files.lines(data)
        route = batch_files.one_route(lines)
        if route not in self.gw.routes or not allowed(key, route):
            raise GatewayError(404, f"The model '{route[:100]}' does not exist or you do not have access to it.",
                               code="model_not_found", param="model")  # fmt: skip
        if self.gw.routes[route].kind != "chat":
            raise GatewayError(400, f"Route '{route[:100]}' serves {self.gw.routes[route].kind}; only chat "
                               "completions are batched.", code="wrong_endpoint", param="model")  # fmt: skip
        acct = self._account(route)
        body = b"".join(orjson.dumps(_rewrite(line, acct)) + b"\n" for line in lines)
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", body, filename=name, content_type="application/jsonl")
        vendor_file = await self._call(acct, "POST", acct.api.files_path, data=form)
        gid = "file-qiao-" + secrets.token_hex(12)
        await self.registry.put(gid, _record("file", acct, str(vendor_file["id"]), route, _name(key)))
        out = {"id": gid, "object": "file", "bytes": len(body), "filename": name, "purpose": "batch"}
        return web.json_response({**out, "created_at": vendor_file.get("created_at", 0), "status": "processed"})

    async def create(self, request: web.Request) -> web.Response:
        key = self._admit(request)
        try:
            spec = orjson.loads(await read_body(request, self.gw.cfg.server.body_timeout_s))
            file_id, endpoint = str(spec["input_file_id"]), str(spec.get("endpoint", "/v1/chat/completions"))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise GatewayError(400, "Send {input_file_id, endpoint, completion_window} as a JSON object.",
                               code="invalid_json") from None  # fmt: skip
        if endpoint != "/v1/chat/completions":
            raise GatewayError(400, "Only /v1/chat/completions batches are served.", code="invalid_value",
                               param="endpoint")  # fmt: skip
        record = await self.registry.get(file_id, "file", _name(key))
        acct = self._account_of(record)
        ask = {"input_file_id": record.vendor_id, "endpoint": acct.api.endpoint, "completion_window": "24h"}
        batch = await self._call(acct, "POST", acct.api.batches_path, json=ask)
        gid = "batch_qiao_" + secrets.token_hex(12)
        await self.registry.put(gid, _record("batch", acct, str(batch["id"]), record.route, record.client))
        return web.json_response(await self._translate(batch, gid, file_id, record))

    async def retrieve(self, request: web.Request) -> web.Response:
        key = authenticate(self.gw, request)
        gid = request.match_info["batch_id"]
        record = await self.registry.get(gid, "batch", _name(key))
        acct = self._account_of(record)
        batch = await self._call(acct, "GET", f"{acct.api.batches_path}/{record.vendor_id}")
        if batch.get("status") == "completed" and batch.get("output_file_id"):
            await self._book(gid, acct, record, str(batch["output_file_id"]))
        return web.json_response(await self._translate(batch, gid, None, record))

    async def content(self, request: web.Request) -> web.Response:
        key = authenticate(self.gw, request)
        record = await self.registry.get(request.match_info["file_id"], "file", _name(key))
        acct = self._account_of(record)
        data = await self._download(acct, record.vendor_id)
        return web.Response(body=data, content_type="application/octet-stream")

    def _admit(self, request: web.Request) -> KeyRecord | None:
        """The client key, refused (429 insufficient_quota) a new file or batch once over a budget."""
        key = authenticate(self.gw, request)
        if key is not None and key.budgeted:
            keylimits.within_budget(key, self.gw.ledger, self.gw.clock())
        return key

    # ---- the vendor side -------------------------------------------------------------------------------

    def _account(self, route: str) -> Account:
        """The route's first candidate with a batch API, an available one before one cooling down."""
        now = self.gw.clock()
        choices = [c for c in self.gw.routes[route].choices if c.vendor.batch is not None]
        if not choices:
            raise GatewayError(400, f"No candidate of route '{route}' has a vendor with a batch API "
                               "(Qwen/DashScope, Zhipu and OpenAI have one).", code="batch_unsupported")  # fmt: skip
        choices.sort(key=lambda c: not self.gw.store.health(c.provider_name, c.model, now).available)
        assert choices[0].vendor.batch is not None
        return Account(choices[0], choices[0].vendor.batch)

    def _account_of(self, record: Record) -> Account:
        route = self.gw.routes.get(record.route)
        for c in route.choices if route is not None else ():
            if c.provider_name == record.provider and c.model == record.model and c.vendor.batch is not None:
                return Account(c, c.vendor.batch)
        raise GatewayError(409, f"Provider '{record.provider}' no longer serves route '{record.route}' with a "
                           "batch API (the config changed).", code="batch_provider_gone")  # fmt: skip

    async def _call(self, acct: Account, method: str, path: str, **kw: Any) -> dict[str, Any]:
        data = await self._send(acct, method, path, **kw)
        try:
            reply = wire.untrusted_json(orjson.loads, data)
        except msgspec.DecodeError:  # no JSON, or JSON no decoder reads (nested too deeply, a huge number)
            reply = None
        if not isinstance(reply, dict):
            raise GatewayError(
                502, f"{acct.choice.provider_name}: not a JSON object from {path}", code="upstream_error"
            )
        return reply

    async def _download(self, acct: Account, vendor_file: str) -> bytes:
        return await self._send(acct, "GET", f"{acct.api.files_path}/{vendor_file}/content")

    async def _send(self, acct: Account, method: str, path: str, **kw: Any) -> bytes:
        c = acct.choice
        key = c.provider.api_key.reveal() if c.provider.api_key else ""
        headers = c.vendor.headers(key, b"", c.provider.extra, self.gw.clock())
        session = self.gw.session
        if session is None:
            raise GatewayError(503, "The gateway is not started.", type="service_unavailable", code="not_started")
        timeout = aiohttp.ClientTimeout(total=self.gw.cfg.provider_timeouts(c.provider).total_s)
        try:
            async with session.request(method, acct.url(path), headers=headers, timeout=timeout, **kw) as r:
                data = await r.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise GatewayError(502, f"{c.provider_name}: {type(e).__name__} at {path}", code="upstream_error") from None
        if r.status >= 300:
            text = self.gw.engine.caller.scrub(data)[:500].decode("utf-8", "replace")
            log.warning("batch_upstream_failed", provider=c.provider_name, path=path, status=r.status, body=text)
            raise GatewayError(502, f"{c.provider_name} answered {r.status} at {path}: {text}", code="upstream_error")
        return data

    async def _translate(self, batch: dict[str, Any], gid: str, file_id: str | None, record: Record) -> dict[str, Any]:
        """The vendor's batch object with the gateway's ids (output files get one on first sight)."""
        out = {**batch, "id": gid, "endpoint": "/v1/chat/completions"}
        if file_id is not None:
            out["input_file_id"] = file_id
        else:
            out.pop("input_file_id", None)
        for field in ("output_file_id", "error_file_id"):
            vendor_file = batch.get(field)
            if vendor_file:
                fid = f"file-qiao-{gid.removeprefix('batch_qiao_')}-{field.split('_')[0]}"
                await self.registry.put(fid, Record(kind="file", provider=record.provider, vendor_id=str(vendor_file),
                                                    route=record.route, model=record.model,
                                                    client=record.client))  # fmt: skip
                out[field] = fid
        return out

    async def _book(self, gid: str, acct: Account, record: Record, output_file: str) -> None:
        """Book every answered line of a completed batch, once (the claim is taken with the output in hand)."""
        data = await self._download(acct, output_file)
        if not await self.registry.claim(gid):
            return
        now = self.gw.clock()
        usages, bad = batch_files.usages(data)
        if bad:  # answered lines left unbooked: how many, and the count that is none in the first
            log.warning("batch_usage_unreadable", batch=gid, provider=record.provider, model=record.model,
                        lines=len(bad), count=bad[0])  # fmt: skip
        for u in usages:
            charge = Charge(record.provider, record.model, record.route, u.prompt_tokens, u.completion_tokens,
                            u.cached_tokens, price_factor=acct.api.price_factor, client=record.client)  # fmt: skip
            self.gw.booked(record.route, acct.choice, self.gw.ledger.book(charge, now))
        log.info("batch_booked", batch=gid, provider=record.provider, model=record.model, lines=len(usages))


def _rewrite(line: dict[str, Any], acct: Account) -> dict[str, Any]:
    body = {**line["body"], "model": acct.choice.model}
    body.pop("stream", None)
    return {**line, "method": "POST", "url": acct.api.endpoint, "body": body}


def _record(kind: str, acct: Account, vendor_id: str, route: str, client: str) -> Record:
    return Record(kind=kind, provider=acct.choice.provider_name, vendor_id=vendor_id, route=route,
                  model=acct.choice.model, client=client)  # fmt: skip


def _name(key: KeyRecord | None) -> str:
    return key.name if key is not None else ""


def register(app: web.Application, gw: Gateway, wrap: Any) -> None:
    """Add the four endpoints to ``app``, each wrapped by ``wrap`` (the API's error handling)."""
    b = Batches(gw)
    app.router.add_post("/v1/files", wrap(b.upload))
    app.router.add_post("/v1/batches", wrap(b.create))
    app.router.add_get("/v1/batches/{batch_id}", wrap(b.retrieve))
    app.router.add_get("/v1/files/{file_id}/content", wrap(b.content))
