"""The HTTP server around the app: aiohttp's connection protocol, its own replies in OpenAI's shape.

aiohttp answers some requests before any handler sees them: bytes that are not HTTP/1.1 (a bad method or
request line, CR/LF/NUL in a header value, conflicting Content-Length and Transfer-Encoding, a header
longer than the limit). ``RequestHandler.handle_error`` builds those replies, as plain text that quotes
the offending bytes (a 9,000-character key included), and logs a traceback. It is the one seam aiohttp
has for them (middlewares and the ``request_factory`` never see a request that did not parse), so
:class:`OpenAIProtocol` overrides it: ``{"error": {...}}`` with a status and a code a client can act on,
never an echo of the client's bytes; one JSON log line and one ``request_done`` line, no traceback (the
client's bytes are not the server's fault). :class:`Runner` is ``web.AppRunner`` whose connections speak
that protocol; :func:`balancer.app.make_runner` builds it for ``balancer serve`` and the tests alike.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, BadStatusLine, HttpProcessingError, LineTooLong

from balancer import logs
from balancer.errors import GatewayError

log = structlog.get_logger("balancer.server")

JSON = "application/json"


def protocol_error(status: int, exc: BaseException | None) -> GatewayError:
    """The OpenAI-shaped answer to a request aiohttp could not parse (or a handler that escaped)."""
    if isinstance(exc, LineTooLong):
        return GatewayError(
            431,
            "The request line or a request header is longer than the server accepts (8190 bytes); "
            "send the API key in 'Authorization: Bearer <key>' and keep headers short.",
            code="request_header_too_large",
        )
    if isinstance(exc, BadHttpMethod):
        hint = "this port speaks plain HTTP, not HTTPS" if "HTTPS" in exc.message else "use POST or GET"
        return GatewayError(400, f"The request method is not valid HTTP ({hint}).", code="invalid_method")
    if isinstance(exc, BadStatusLine):
        msg = "The request line is not valid HTTP/1.1 (expected 'POST /v1/... HTTP/1.1')."
        return GatewayError(400, msg, code="invalid_request_line")
    if isinstance(exc, HttpProcessingError):
        return GatewayError(400, f"The request is not valid HTTP/1.1: {_reason(exc)}.", code="invalid_http")
    if status == 504:
        return GatewayError(504, "The request timed out in the gateway.", type="timeout", code="timeout")
    if status >= 500:
        return GatewayError(
            status, "The gateway hit an internal error; it has been logged.", type="server_error", code="internal_error"
        )
    return GatewayError(status, "The request could not be processed.", code="invalid_http")


def _reason(exc: HttpProcessingError) -> str:
    """The parser's reason (llhttp's fixed text, e.g. "Invalid header value char"), without the bytes
    aiohttp quotes after it: those are the client's and may hold a credential."""
    reason = exc.message.split(":", 1)[0].strip()
    if not reason or len(reason) > 100 or any(c in reason for c in "'\"\\\r\n") or not reason.isprintable():
        return "malformed request"
    return reason


class OpenAIProtocol(web.RequestHandler):
    """aiohttp's connection protocol, with its own error replies (``handle_error``) in OpenAI's shape."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        error = protocol_error(status, exc)
        rid = "req_" + secrets.token_hex(12)
        if error.status >= 500 and status != 504:
            log.error("unhandled_error", request_id=rid, exc_info=exc)
        else:
            log.info("protocol_error", request_id=rid, status=error.status, code=error.code, remote=request.remote)
        logs.request_done(log, {"request_id": rid, "status": error.status, "error": error.code, "ms": 0.0})
        if request.writer.output_size > 0:  # a reply was already under way: the connection is broken
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        resp = web.Response(body=error.body(), status=error.status, content_type=JSON, headers={"x-request-id": rid})
        resp.force_close()
        return resp


class _Server(web.Server):
    """aiohttp's low-level server whose connections speak :class:`OpenAIProtocol`."""

    def __init__(self, handler: Any, *, request_factory: Any, handler_cancellation: bool, **kwargs: Any) -> None:
        super().__init__(handler, request_factory=request_factory, handler_cancellation=handler_cancellation, **kwargs)
        self._protocol_kwargs = kwargs
        self._protocol_loop = asyncio.get_running_loop()

    def __call__(self) -> web.RequestHandler:
        return OpenAIProtocol(self, loop=self._protocol_loop, **self._protocol_kwargs)


class Runner(web.AppRunner):
    """``web.AppRunner`` serving the app with :class:`OpenAIProtocol`. Request bodies are never decompressed
    (``auto_decompress=False``: the API answers a Content-Encoding with 415, so no zip bomb is inflated)."""

    def __init__(self, app: web.Application, *, shutdown_timeout: float = 60.0, **kwargs: Any) -> None:
        kwargs.setdefault("access_log", None)
        kwargs["auto_decompress"] = False
        super().__init__(app, shutdown_timeout=shutdown_timeout, **kwargs)
        self._protocol_kwargs = {k: v for k, v in kwargs.items() if k != "handler_cancellation"}

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # aiohttp's own: the app started, its handler and request factory
        return _Server(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            **self._protocol_kwargs,
        )
