"""HTTP handlers: the OpenAI API the clients see. Decode once, authenticate, route, answer, log once.

:class:`Api` holds the handlers, bound to one :class:`~balancer.gateway.Gateway`; :mod:`balancer.app`
registers them, each wrapped by :meth:`Api.endpoint` (request id, OpenAI-shaped errors, one ``request_done``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from balancer import keylimits, logs, status, streams
from balancer.attempt import usage_total
from balancer.capture import reply_message
from balancer.credit.pricing import MICRO
from balancer.errors import GatewayError
from balancer.gateway import Gateway
from balancer.idempotency import REPLAYED
from balancer.intake import JSON, REQUEST_ID, T0, allowed, authenticate, build_job, identify, read_body, request_id
from balancer.intake import completed as done_for
from balancer.job import ClientGone, Job, Reply, Stream
from balancer.metrics import CONTENT_TYPE, Metrics

log = structlog.get_logger("balancer.api")

CLIENT_CLOSED = 499  # the client went away before its answer (nginx's convention; never sent)
DONE = web.RequestKey("request_done", dict)
FAILURES_KEPT = 200


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


REFUSED = frozenset({400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 431})


class Api:
    """The gateway's HTTP handlers, bound to one gateway and its metrics."""

    def __init__(self, gw: Gateway, metrics: Metrics) -> None:
        self.gw = gw
        self.metrics = metrics
        self.refusals = logs.Sampler(per_s=20)  # refused requests' lines, sampled under a flood
        # This instance's last failed requests (an error answered, or an attempt failed over), for the admin API.
        self.failures: collections.deque[dict[str, Any]] = collections.deque(maxlen=FAILURES_KEPT)

    async def metrics_text(self, request: web.Request) -> web.Response:
        """Prometheus metrics (unauthenticated, like /healthz: keep the port off the internet)."""
        body = self.metrics.render(await status.snapshot(self.gw))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    def chat_completions(self, request: web.Request) -> Awaitable[web.StreamResponse]:
        return self._serve(request, "chat")  # no coroutine of its own: each level is paid at every resume

    def embeddings(self, request: web.Request) -> Awaitable[web.StreamResponse]:
        return self._serve(request, "embeddings")

    async def _serve(self, request: web.Request, kind: str) -> web.StreamResponse:
        gw, job, status = self.gw, None, 500
        ctx: dict[str, Any] = {}
        try:
            job, ctx, key = await build_job(gw, request, kind)
            if key is not None and (key.budgeted or key.limited):  # a reservation settled below
                job.key_admission = await keylimits.enforce(key, job.view, gw.store, gw.ledger, gw.clock())
            result = await gw.engine.serve(job)
            if isinstance(result, Reply):
                status = result.status
                if "_raw" in ctx and gw.capture is not None:
                    message = reply_message(result.body)
                    if message is not None:
                        gw.capture.submit(
                            job=job,
                            raw_body=ctx["_raw"],
                            message=message,
                            t0=request[T0],
                            secrets=_known_keys(gw, request),
                        )
                return web.Response(
                    body=result.body, status=status, content_type=JSON, headers=_served_headers(request, job)
                )
            status = 200
            return await self._stream(request, job, result, ctx)
        except GatewayError as e:
            status = e.status
            ctx["error"] = e.code
            if job is not None:
                e.headers.update(_served_headers(request, job))
            raise
        finally:
            if job is not None and job.key_admission is not None:
                await keylimits.settle(gw.store, job.key_admission, usage_total(job.usage), gw.clock())
            ctx.pop("_raw", None)  # one request_done for every request, refused ones too
            request[DONE] = {**ctx, **_summary(job), "status": status} if job is not None else {**ctx, "status": status}

    async def _stream(self, request: web.Request, job: Job, s: Stream, ctx: dict[str, Any]) -> web.StreamResponse:
        gw = self.gw
        resp = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **_served_headers(request, job)},
        )
        client = _ClientStream(request, resp, gw.cfg.server.write_timeout_s)
        outcome = await streams.pump(gw.engine.caller, job, s, client)
        if outcome is not None and outcome.ok and job.assembler is not None and gw.capture is not None:
            message = job.assembler.message()
            gw.capture.submit(
                job=job, raw_body=ctx["_raw"], message=message, t0=request[T0], secrets=_known_keys(gw, request)
            )
        ctx["stream_end"] = "done" if outcome is not None and outcome.ok else job.attempts[-1].result
        await client.finish()  # at once after [DONE] already (the upstream is drained after), idempotent
        return resp

    async def admit(self, request: web.Request) -> bytes:
        """The client key checked and the body read within its timer: what a request with an Idempotency-Key
        passes before a kept reply answers it (a key revoked since gets its 401)."""
        authenticate(self.gw, request)  # names the client for a replay's request_done
        return await read_body(request, self.gw.cfg.server.body_timeout_s)

    async def models(self, request: web.Request) -> web.Response:
        key = authenticate(self.gw, request)
        data = [_model(name, route.kind) for name, route in self.gw.routes.items() if allowed(key, name)]
        return web.json_response({"object": "list", "data": data})

    async def model(self, request: web.Request) -> web.Response:
        """One route as OpenAI's model object (``client.models.retrieve``); 404 model_not_found as for a request."""
        key = authenticate(self.gw, request)
        name = request.match_info["model"]
        route = self.gw.routes.get(name)
        if route is None or not allowed(key, name):
            raise GatewayError(
                404, f"The model '{name[:100]}' does not exist or you do not have access to it.",
                code="model_not_found", param="model",
            )  # fmt: skip
        return web.json_response(_model(name, route.kind))

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """Ready to serve (always 200 while it can take requests): ``degraded`` when the state store is lost
        or a provider is out until an operator acts (a bad key, no funds, drained) — each listed with why —
        and the routes that have no candidate available now."""
        gw, now = self.gw, self.gw.clock()
        state = await gw.store.status()
        out = []
        for name in sorted(gw.cfg.providers):
            cooled = gw.store.cooldown(name, now)
            if cooled is not None and cooled[1] in (*status.DISABLING, status.DRAINED):
                until = None if cooled[1] == status.DRAINED or cooled[0] == float("inf") else cooled[0]
                out.append({"provider": name, "reason": cooled[1], "until": until})
        down = sorted(
            n
            for n, r in gw.routes.items()
            if not any(gw.store.health(c.provider_name, c.model, now).available for c in r.choices)
        )
        body = {
            "status": "ready" if state == "ok" and not out and not down else "degraded",
            "state_store": {"backend": gw.store.name, "status": state, "degraded_events": gw.store.degraded_events},
            "providers_out": out,
            "routes_down": down,
            "routes": len(gw.routes),
            "config_generation": gw.generation,
            "pid": os.getpid(),  # which process answered (one of several with --workers)
        }
        return web.json_response(body, status=200)

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        """Any path or method the API does not serve, answered in OpenAI's shape; a valid key's client is named."""
        identify(self.gw, request)
        known = {r.canonical for r in request.app.router.resources() if r.canonical != "/{tail}"}
        status = 405 if request.path in known else 404
        raise GatewayError(
            status,
            f"{'Method not allowed' if status == 405 else 'Not found'}: {request.method} {request.path}",
            code=_HTTP_CODES[status],
        )

    def _done(self, request: web.Request, rid: str, status: int, cancelled: bool = False) -> None:
        """The one request_done line, and the request counted in the metrics (every chat and embeddings request
        that reached its handler has a DONE record; the other endpoints, and a request failed before its handler,
        have none: they log a line when answered with an error, and nothing on success). Refused requests' lines
        are sampled under a flood; their metrics are not."""
        done = request.get(DONE)
        if done is None:
            replayed = request.get(REPLAYED)
            if replayed is not None:
                done = {"route": replayed, "stream": False, "replay": True, "status": status}
            elif status >= 400:  # refused or failed elsewhere (admin, models, batches, Idempotency-Key): logged
                done = {"error": request.get(ERROR), "status": status}
            else:
                return
        done_for(done, request, status, self.gw.engine.caller.scrub.text)
        if status >= 400 and done.get("error") is None and request.get(ERROR):  # aiohttp's refusal (413) in DONE
            done["error"] = request[ERROR]
        if cancelled:
            done["cancelled"] = True
        done["request_id"], done["ms"] = rid, round((time.perf_counter() - request[T0]) * 1000, 3)
        self.metrics.observe(done)
        if status in REFUSED and not done.get("attempts"):
            write, held = self.refusals.allow((status, done.get("error")))
            if held:
                log.warning("refused_requests_sampled", held_back={f"{s} {e}": n for (s, e), n in held.items()})
            if not write:
                return
        logs.request_done(log, done)

    def endpoint(self, handler: Handler) -> Handler:
        """Wrap a handler: request id, OpenAI-shaped errors, the one request_done line. (A plain wrapper,
        not an aiohttp middleware: middlewares rebuild their call chain on every request, and every
        coroutine level is paid again on each resume, so the chain is kept short.)"""
        max_body = self.gw.cfg.server.max_body_bytes

        async def wrapped(request: web.Request) -> web.StreamResponse:
            rid = request_id(request)
            request[REQUEST_ID], request[T0] = rid, time.perf_counter()
            try:
                resp = await handler(request)
            except asyncio.CancelledError:  # the server is forcing its shutdown: still one request_done
                self._done(request, rid, CLIENT_CLOSED, cancelled=True)
                raise
            except Exception as e:  # every error answered is scrubbed of the config's keys (a client pasted one)
                resp = _failure_response(request, e, rid, max_body, self.gw.engine.caller.scrub.text)
            if not resp.prepared:
                resp.headers["x-request-id"] = rid
            self._done(request, rid, _seen_status(request, resp))
            done = request.get(DONE)
            if done is not None and _failed(done):
                self.failures.append(dict(done, at=time.time()))
            await _send_large(request, resp, self.gw.cfg.server.write_timeout_s)
            return resp

        return wrapped


_NEVER_BLOCKS = 1 << 15  # a write that leaves less than this queued cannot reach the transport's high-water mark


class _ClientStream:
    """The client's side of a stream. Prepared at the first write; a write raises OSError when the client has
    gone, or when it has stopped reading for ``timeout_s`` (its socket buffer full): the pump then ends the
    upstream stream and settles it, instead of waiting on a reader that will never come back."""

    __slots__ = ("request", "resp", "timeout_s")

    def __init__(self, request: web.Request, resp: web.StreamResponse, timeout_s: float) -> None:
        self.request, self.resp, self.timeout_s = request, resp, timeout_s

    async def write(self, data: bytes) -> None:
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        if not self.resp.prepared:
            await self.resp.prepare(self.request)
        if transport.get_write_buffer_size() + len(data) < _NEVER_BLOCKS:
            await self.resp.write(data)
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.resp.write(data)
        except TimeoutError:
            transport.abort()  # a broken stream, not one ended cleanly without its answer when the client reads on
            raise

    async def finish(self) -> None:
        """End the response (its last chunk), if it was started; a client already gone is no error here."""
        if self.resp.prepared:
            with contextlib.suppress(OSError):
                await self.resp.write_eof()


async def _send_large(request: web.Request, resp: web.StreamResponse, timeout_s: float) -> None:
    """Send a whole reply too large to leave in the socket buffers at once, within ``timeout_s``: a client that
    does not read it is let go (its connection closed), as a stream's is, instead of holding the connection and
    the reply for ever. A smaller one is left to aiohttp (its write cannot wait)."""
    body = resp.body if isinstance(resp, web.Response) and not resp.prepared else None
    if not isinstance(body, bytes) or len(body) < _NEVER_BLOCKS:
        return
    try:
        async with asyncio.timeout(timeout_s):
            await resp.prepare(request)
            await resp.write_eof()
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()  # a reply cut short: never a clean end (nor the rest sent after)
    except ConnectionError:  # the client left: aiohttp finds the response sent, or the connection closed
        pass


def _seen_status(request: web.Request, resp: web.StreamResponse) -> int:
    """The status the client gets: none (499, for the log) when it left before a whole reply was started."""
    transport = request.transport
    if not resp.prepared and (transport is None or transport.is_closing()):
        return CLIENT_CLOSED
    return resp.status


def _model(name: str, kind: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "qiao", "kind": kind}


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
    if job.cost is not None:  # list value of what was served, by who paid it
        out["cost_cny"] = {"paid": job.cost.paid / MICRO, "grant": job.cost.granted / MICRO}
    return out


def _failed(done: dict[str, Any]) -> bool:
    """A request worth showing operators: answered with an error, or served after a failed attempt."""
    if done["status"] >= 400:
        return True
    attempts: list[dict[str, Any]] = done.get("attempts") or []
    if len(attempts) == 1 and attempts[0]["result"] == "ok":  # the common case, decided cheaply
        return False
    return any(a["result"] not in _FINE for a in attempts)


_FINE = frozenset({"ok", "client_disconnected"})


def _error_response(e: GatewayError, rid: str) -> web.Response:
    return web.Response(body=e.body(), status=e.status, content_type=JSON, headers={**e.headers, "x-request-id": rid})


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large", 415: "unsupported_media_type"}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


ERROR = web.RequestKey("error_code", str)  # the code a refusal answered with (for the log)


def _failure_response(
    request: web.Request, exc: Exception, rid: str, max_body: int, scrub: Callable[[str], str]
) -> web.Response:
    if isinstance(exc, GatewayError):
        request[ERROR] = exc.code or ""
        return _error_response(exc.redact(scrub), rid)
    if isinstance(exc, ClientGone):  # nobody to answer; the status is for the log (nginx's "client closed")
        error = GatewayError(CLIENT_CLOSED, str(exc), code="client_closed_request")
        return _error_response(error, rid)
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        msg = (
            f"The request body is larger than the limit of {max_body} bytes."
            if exc.status == 413
            else f"{exc.reason}: {request.method} {request.path}"
        )
        request[ERROR] = _HTTP_CODES.get(exc.status) or ""
        return _error_response(GatewayError(exc.status, msg, code=_HTTP_CODES.get(exc.status)).redact(scrub), rid)
    if isinstance(exc, web.HTTPException):
        raise exc
    log.error("unhandled_error", request_id=rid, path=scrub(request.path), exc_info=exc)
    error = GatewayError(
        500, "The gateway hit an internal error; it has been logged.", type="server_error", code="internal_error"
    )
    return _error_response(error, rid)


def _known_keys(gw: Gateway, request: web.Request) -> tuple[str, ...]:
    """The keys a captured transcript must not hold: the one this request presented, and every provider's."""
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("api-key", "")
    vendor = (p.api_key.reveal() for p in gw.cfg.providers.values() if p.api_key is not None)
    return (presented, *vendor)
