"""What the gateway accepts before it routes: the request id, the client's key, a JSON body within its
timeout, the strategy header, and the :class:`~balancer.job.Job` built from one decode of the body.
That decode (:func:`balancer.wire.decode_body`) is where a body's limits are enforced, once: valid JSON, an object,
valid Unicode, and at most :data:`balancer.nesting.MAX_DEPTH` (100) levels of arrays and objects (what the
gateway's own encoders and the vendors' parsers all take; :mod:`balancer.nesting` says why).
Every refusal is a :class:`~balancer.errors.GatewayError` in OpenAI's shape, never an echo of the client's
bytes (only short printable ASCII is ever quoted back).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from balancer import keylimits, wire
from balancer.capture import StreamAssembler
from balancer.clients import KeyRecord, presented_key
from balancer.errors import GatewayError
from balancer.gateway import Gateway
from balancer.job import Job
from balancer.secrets import masked

JSON = "application/json"
REQUEST_ID = web.RequestKey("request_id", str)
T0 = web.RequestKey("t0", float)
CLIENT = web.RequestKey("client_name", str)  # the name of the client key presented, once known (never the key)


def request_id(request: web.Request) -> str:
    rid = request.headers.get("x-request-id", "")
    return rid if 0 < len(rid) <= 128 and rid.isascii() and rid.isprintable() else "req_" + secrets.token_hex(12)


def identify(gw: Gateway, request: web.Request) -> KeyRecord | None:
    """The client key a request presents, or None (none, unknown, or no auth configured); its name is kept as
    ``request[CLIENT]`` for the request's request_done line, refused or not."""
    if gw.cfg.server.insecure_no_auth:
        return None
    key = presented_key(request.headers)
    found = gw.clients.lookup(key) if key.isascii() else None  # header bytes that are not ASCII are no key of ours
    if found is not None:
        request[CLIENT] = found.name
    return found


def authenticate(gw: Gateway, request: web.Request) -> KeyRecord | None:
    """The client key a request presents (hashed once per distinct key): 401 when missing, unknown or expired."""
    if gw.cfg.server.insecure_no_auth:
        return None
    found = identify(gw, request)
    if found is None:
        raise GatewayError(
            401,
            "Incorrect API key provided. Send one of this gateway's client keys (not a vendor's key) as "
            "'Authorization: Bearer <key>'.",
            type="invalid_request_error",
            code="invalid_api_key",
        )
    if found.expires is not None:
        keylimits.unexpired(found, gw.clock())
    return found


def completed(done: dict[str, Any], request: web.Request, status: int, scrub: Callable[[str], str] = masked) -> None:
    """Complete a request_done record: the client's name when its key is known (refused or not; never the key);
    for a refusal, the status, and the path when no route was reached, by ``scrub`` (the config's
    :class:`~balancer.secrets.Scrubber`): a key pasted into a URL is no path to log."""
    if done.get("client") is None and request.get(CLIENT):
        done["client"] = request[CLIENT]
    if status >= 400:
        done["status"] = status
        if "route" not in done:
            done.setdefault("path", scrub(request.path[:200]))


def allowed(key: KeyRecord | None, route: str) -> bool:
    return key is None or "*" in key.routes or route in key.routes


async def read_body(request: web.Request, timeout_s: float) -> bytes:
    """The request body, within ``timeout_s``: a body that trickles or never ends (a chunked body without its
    last chunk, a Content-Length larger than what is sent) gets a 408, not a connection held for minutes.
    A body already received whole (the usual case) is read without a timer. A Content-Length over the server's
    limit is its 413 at once, before any of the body is waited for."""
    limit = request.client_max_size
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    if request.content.is_eof():
        return await request.read()
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        raise GatewayError(
            408,
            f"The request body did not arrive within {timeout_s:g}s; send the whole body at once.",
            code="request_timeout",
        ) from None


def plain(value: str, limit: int = 40) -> str | None:
    """A header value fit to quote back in a message (printable ASCII, short), else None."""
    return value if len(value) <= limit and value.isascii() and value.isprintable() else None


def check_body_type(request: web.Request) -> None:
    """A JSON body, uncompressed. The body is read as JSON whatever its Content-Type says (``curl -d`` labels
    JSON as a form, and it is decoded and validated like any body: one that is not JSON gets a 400 saying
    so), except a multipart form, which is never a JSON body (415). Request bodies are never inflated
    (aiohttp is told not to: no zip bombs), so any Content-Encoding is a 415."""
    ctype = request.headers.get("Content-Type")
    if ctype is not None and ctype != JSON and ctype.lstrip().lower().startswith("multipart/"):
        raise GatewayError(
            415,
            "The request body must be JSON, sent with 'Content-Type: application/json' (got a multipart form).",
            code="unsupported_media_type",
        )
    encoding = request.headers.get("Content-Encoding")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        shown = plain(encoding)
        raise GatewayError(
            415,
            f"Compressed request bodies are not accepted (Content-Encoding: {shown or '<unprintable>'}); "
            "send the JSON uncompressed, without a Content-Encoding header.",
            code="unsupported_content_encoding",
        )


def strategy_header(gw: Gateway, request: web.Request) -> str | None:
    strategy = request.headers.get("x-qiao-strategy") or None
    if strategy is not None and strategy not in gw.strategies:
        shown = plain(strategy)
        raise GatewayError(
            400,
            f"Unknown strategy {repr(shown) if shown else '(not printable ASCII)'} in x-qiao-strategy; "
            f"use one of: {', '.join(gw.strategies)}.",
            code="invalid_strategy",
        )
    return strategy


async def build_job(gw: Gateway, request: web.Request, kind: str) -> tuple[Job, dict[str, Any], KeyRecord | None]:
    key = authenticate(gw, request)
    check_body_type(request)
    data = await read_body(request, gw.cfg.server.body_timeout_s)
    body = wire.decode_body(data)
    view = wire.chat_view(body, len(data)) if kind == "chat" else wire.embeddings_view(body, len(data))
    route = gw.routes.get(view.model)
    if route is None or not allowed(key, view.model):
        raise GatewayError(
            404,
            f"The model '{view.model[:100]}' does not exist or you do not have access to it "
            f"(GET /v1/models lists the routes this key may use).",
            code="model_not_found",
            param="model",
        )
    if route.kind != kind:
        raise GatewayError(
            400, f"Route '{view.model}' serves {route.kind}, not {kind}.", code="wrong_endpoint", param="model"
        )
    strategy = strategy_header(gw, request)
    transport = request.transport
    job = Job(
        request_id=request[REQUEST_ID],
        route=route,
        body=body,
        view=view,
        strategy=strategy,
        deadline=request[T0] + route.failover.deadline_s,
        client_gone=lambda: transport is None or transport.is_closing(),
        client=key.name if key else "",
    )
    ctx: dict[str, Any] = {"route": route.name, "client": key.name if key else None, "stream": view.stream}
    if gw.capture is not None and (route.transcripts or (key is not None and key.transcripts)):
        ctx["_raw"] = data
        if view.stream:
            job.assembler = StreamAssembler()
    return job, ctx, key
