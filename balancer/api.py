"""HTTP handlers: the OpenAI API the clients see. Decode once, authenticate, route, answer, log once."""

from __future__ import annotations

import dataclasses
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from balancer import logs, streams, wire
from balancer.capture import StreamAssembler, reply_message
from balancer.config import ClientKey
from balancer.errors import GatewayError
from balancer.failover import Job, Reply, Stream
from balancer.gateway import GATEWAY, Gateway

log = structlog.get_logger("balancer.api")

JSON = "application/json"
REQUEST_ID = web.RequestKey("request_id", str)
T0 = web.RequestKey("t0", float)
DONE = web.RequestKey("request_done", dict)


def _request_id(request: web.Request) -> str:
    rid = request.headers.get("x-request-id", "")
    return rid if 0 < len(rid) <= 128 and rid.isprintable() else "req_" + secrets.token_hex(12)


def _authenticate(gw: Gateway, request: web.Request) -> ClientKey | None:
    if gw.cfg.server.insecure_no_auth:
        return None
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("api-key", "")
    if not key:
        raise GatewayError(
            401,
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            type="invalid_request_error",
            code="missing_api_key",
        )
    found = gw.client_key(key)
    if found is None:
        raise GatewayError(
            401,
            f"Incorrect API key provided: {key[:3]}***{key[-2:] if len(key) > 8 else ''}.",
            type="invalid_request_error",
            code="invalid_api_key",
        )
    return found


def _allowed(key: ClientKey | None, route: str) -> bool:
    return key is None or "*" in key.routes or route in key.routes


async def _job(request: web.Request, kind: str) -> tuple[Gateway, Job, dict[str, Any]]:
    gw = request.app[GATEWAY]
    key = _authenticate(gw, request)
    data = await request.read()
    body = wire.decode_body(data)
    view = wire.chat_view(body, len(data)) if kind == "chat" else wire.embeddings_view(body, len(data))
    route = gw.routes.get(view.model)
    if route is None or not _allowed(key, view.model):
        raise GatewayError(
            404,
            f"The model '{view.model}' does not exist or you do not have access to it "
            f"(GET /v1/models lists the routes this key may use).",
            code="model_not_found",
            param="model",
        )
    if route.kind != kind:
        raise GatewayError(
            400, f"Route '{view.model}' serves {route.kind}, not {kind}.", code="wrong_endpoint", param="model"
        )
    strategy = request.headers.get("x-qiao-strategy") or None
    if strategy is not None and strategy not in gw.strategies:
        raise GatewayError(
            400,
            f"Unknown strategy '{strategy}' in x-qiao-strategy ({', '.join(gw.strategies)}).",
            code="invalid_strategy",
        )
    transport = request.transport
    job = Job(
        request_id=request[REQUEST_ID],
        route=route,
        body=body,
        view=view,
        strategy=strategy,
        deadline=request[T0] + route.failover.deadline_s,
        client_gone=lambda: transport is None or transport.is_closing(),
    )
    ctx: dict[str, Any] = {"route": route.name, "client": key.name if key else None, "stream": view.stream}
    if gw.capture is not None and (route.transcripts or (key is not None and key.transcripts)):
        ctx["_raw"] = data
        if view.stream:
            job.assembler = StreamAssembler()
    return gw, job, ctx


def _served_headers(request: web.Request, job: Job) -> dict[str, str]:
    elapsed = time.perf_counter() - request[T0]
    c = job.served_by
    h = {
        "x-qiao-attempts": str(job.tries),
        "x-qiao-overhead-ms": f"{max(0.0, elapsed - job.upstream_s) * 1000:.3f}",
        "x-qiao-route": job.route.name,
        "x-request-id": request[REQUEST_ID],
    }
    if c is not None:
        h["x-qiao-provider"], h["x-qiao-model"] = c.provider_name, c.model
    return h


async def _serve(request: web.Request, kind: str) -> web.StreamResponse:
    job: Job | None = None
    ctx: dict[str, Any] = {}
    status = 500
    try:
        gw, job, ctx = await _job(request, kind)
        result = await gw.engine.serve(job)
        if isinstance(result, Reply):
            status = result.status
            if "_raw" in ctx and gw.capture is not None:
                message = reply_message(result.body)
                if message is not None:
                    gw.capture.submit(job=job, raw_body=ctx["_raw"], message=message, t0=request[T0])
            return web.Response(
                body=result.body, status=status, content_type=JSON, headers=_served_headers(request, job)
            )
        status = 200
        return await _stream(request, gw, job, result, ctx)
    except GatewayError as e:
        status = e.status
        if job is not None:
            e.headers.update(_served_headers(request, job))
        raise
    finally:
        if job is not None:
            ctx.pop("_raw", None)
            request[DONE] = {**ctx, **_summary(job), "status": status}


async def _stream(request: web.Request, gw: Gateway, job: Job, s: Stream, ctx: dict[str, Any]) -> web.StreamResponse:
    resp = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **_served_headers(request, job)},
    )
    await resp.prepare(request)
    outcome = await streams.pump(gw.engine, job, s, resp.write)
    if outcome.ok and job.assembler is not None and gw.capture is not None:
        gw.capture.submit(job=job, raw_body=ctx["_raw"], message=job.assembler.message(), t0=request[T0])
    ctx["stream_end"] = "done" if outcome.ok else (outcome.failure.value if outcome.failure else "error")
    await resp.write_eof()
    return resp


chat_completions: Handler = functools.partial(_serve, kind="chat")
embeddings: Handler = functools.partial(_serve, kind="embeddings")


def _summary(job: Job) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attempts": [a.as_log() for a in job.attempts],
        "provider": job.served_by.provider_name if job.served_by else None,
        "model": job.served_by.model if job.served_by else None,
    }
    if job.adjustments:
        out["adjusted"] = job.adjustments
    if job.usage is not None:
        out["tokens"] = {"prompt": job.usage.prompt_tokens, "completion": job.usage.completion_tokens}
        if job.usage_estimated:
            out["tokens"]["estimated"] = True
    return out


async def models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = _authenticate(gw, request)
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "qiao", "kind": route.kind}
        for name, route in gw.routes.items()
        if _allowed(key, name)
    ]
    return web.json_response({"object": "list", "data": data})


async def refresh_balances(request: web.Request) -> web.Response:
    """Poll vendor balances now (``?provider=a,b`` or all); answers each balance or its error."""
    gw = request.app[GATEWAY]
    _authenticate(gw, request)
    if gw.balances is None:
        raise GatewayError(503, "The gateway is not started.", type="service_unavailable")
    names = request.query.get("provider")
    results = await gw.balances.refresh(names.split(",") if names else None)
    body = {name: {"error": r} if isinstance(r, str) else dataclasses.asdict(r) for name, r in results.items()}
    return web.json_response({"balances": body})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    state = await gw.store.status()
    status = "ready" if state == "ok" else "degraded"
    body = {
        "status": status,
        "state_store": {
            "backend": gw.store.name,
            "status": state,
            "degraded_events": getattr(gw.store, "degraded_events", 0),  # times it lost Redis
        },
        "routes": len(gw.routes),
        "config_generation": gw.generation,
    }
    return web.json_response(body, status=200)


async def admin_plan(request: web.Request) -> web.Response:
    """The credit-burn plan (same JSON as ``balancer plan``), re-planned from the ledger now."""
    gw = request.app[GATEWAY]
    _authenticate(gw, request)
    return web.json_response(await gw.replan())


def _error_response(e: GatewayError, rid: str) -> web.Response:
    return web.Response(body=e.body(), status=e.status, content_type=JSON, headers={**e.headers, "x-request-id": rid})


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large", 415: "unsupported_media_type"}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def endpoint(handler: Handler) -> Handler:
    """Wrap a handler: request id, OpenAI-shaped errors, the one request_done line. (A plain wrapper,
    not an aiohttp middleware: middlewares rebuild their call chain on every request, and every
    coroutine level is paid again on each resume, so the chain is kept short.)"""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        rid = _request_id(request)
        request[REQUEST_ID], request[T0] = rid, time.perf_counter()
        try:
            resp = await handler(request)
        except Exception as e:
            resp = _failure_response(request, e, rid)
        if not resp.prepared:
            resp.headers["x-request-id"] = rid
        done = request.get(DONE)
        if done is not None:
            if resp.status >= 400:
                done["status"] = resp.status
            done["request_id"], done["ms"] = rid, round((time.perf_counter() - request[T0]) * 1000, 3)
            logs.request_done(log, done)
        return resp

    return wrapped


async def not_found(request: web.Request) -> web.StreamResponse:
    """Any path or method the API does not serve, answered in OpenAI's shape."""
    known = {r.canonical for r in request.app.router.resources() if r.canonical != "/{tail}"}
    status = 405 if request.path in known else 404
    raise GatewayError(
        status,
        f"{'Method not allowed' if status == 405 else 'Not found'}: {request.method} {request.path}",
        code=_HTTP_CODES[status],
    )


def _failure_response(request: web.Request, exc: Exception, rid: str) -> web.Response:
    if isinstance(exc, GatewayError):
        return _error_response(exc, rid)
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        msg = (
            f"The request body is larger than the limit of {request.app[GATEWAY].cfg.server.max_body_bytes} bytes."
            if exc.status == 413
            else f"{exc.reason}: {request.method} {request.path}"
        )
        return _error_response(GatewayError(exc.status, msg, code=_HTTP_CODES.get(exc.status)), rid)
    if isinstance(exc, web.HTTPException):
        raise exc
    log.error("unhandled_error", request_id=rid, path=request.path, exc_info=exc)
    error = GatewayError(
        500, "The gateway hit an internal error; it has been logged.", type="server_error", code="internal_error"
    )
    return _error_response(error, rid)
