"""The admin wing: the admin API (``/admin/...``, admin keys only), its OpenAPI document and the dashboard.

Beside :mod:`balancer.api`, below :mod:`balancer.app` (which registers it); nothing below imports it. The
operations are listed once, in :mod:`balancer.admin.routes`.
"""

from __future__ import annotations

from importlib import resources

import msgspec
from aiohttp import web

from balancer.admin import openapi
from balancer.admin.handlers import Admin, authorise, wrap
from balancer.admin.routes import DOCUMENT, OPS
from balancer.api import Api
from balancer.errors import GatewayError
from balancer.gateway import Gateway

STATIC = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}
# The dashboard loads its own script and style only, and talks to this origin only.
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:"


def register(app: web.Application, gw: Gateway, api: Api) -> None:
    """Add every admin route to ``app`` (before its catch-all), each wrapped by ``api.endpoint``."""
    admin = Admin(gw, api)
    for op in OPS:
        app.router.add_route(op.method, op.path, api.endpoint(wrap(admin, op)))
    files = {name: resources.files("balancer.admin").joinpath(f"static/{name}").read_bytes() for name in STATIC}
    doc = msgspec.json.encode(openapi.document(_version()))

    async def document(request: web.Request) -> web.StreamResponse:
        authorise(gw, request)
        return web.Response(body=doc, content_type="application/json")

    async def page(request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("file", "index.html")
        if name not in files or (name == "index.html" and "file" in request.match_info):
            raise GatewayError(404, f"Not found: {request.method} {request.path}", code="not_found")
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return web.Response(body=files[name], content_type=STATIC[name], charset="utf-8", headers=headers)

    async def slash(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/admin/")

    app.router.add_get(DOCUMENT, api.endpoint(document))
    app.router.add_get("/admin/", api.endpoint(page))
    app.router.add_get("/admin/static/{file}", api.endpoint(page))
    app.router.add_get("/admin", slash)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qiao")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"
