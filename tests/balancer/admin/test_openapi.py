"""The admin API's OpenAPI document: valid OpenAPI 3.1, covering every admin route the gateway serves, and
describing what the handlers really answer."""

from __future__ import annotations

from typing import Any

import aiohttp
import jsonschema
from openapi_spec_validator import validate

from tests.balancer.admin.test_admin_api import call
from tests.conftest import CHAT, EmulatorHandle, GatewayFactory, GatewayHandle


async def test_the_document_is_valid_and_covers_every_admin_route(
    gateway: GatewayHandle, http: aiohttp.ClientSession
) -> None:
    """openapi-spec-validator accepts the served document, and every (method, path) registered under /admin in
    the gateway's router is in it, and nothing else is."""
    status, doc = await call(http, gateway, "GET", "/admin/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    validate(doc)
    assert gateway.app is not None
    served = set()
    for route in gateway.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/admin") and route.method != "HEAD":
            served.add((route.method.lower(), path))
    described = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == described


def _schema(doc: dict[str, Any], path: str, method: str = "get", status: str = "200") -> dict[str, Any]:
    schema = doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


async def test_answers_match_their_schemas(
    make_gateway: GatewayFactory, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """Each read operation's answer, with live data in it (a grant, a failover, a made key, spend), validates
    against the response schema the document gives it (JSON Schema 2020-12); so does a made key and an error."""

    def edit(cfg: dict[str, Any]) -> None:
        cfg["providers"]["qwen"]["account"] = {"grants": [{"name": "pack", "tokens": 10**6, "expires": "2099-01-01"}]}

    gw = await make_gateway(edit)
    _, doc = await call(http, gw, "GET", "/admin/openapi.json")
    status, made = await call(http, gw, "POST", "/admin/keys", json={"name": "k", "limits": {"rpm": 5}})
    jsonschema.validate(made, _schema(doc, "/admin/keys", "post", "201"), cls=jsonschema.Draft202012Validator)
    await emulator.fault("deepseek.a", "server_error", count=1)
    await gw.client().chat.completions.create(**CHAT)  # type: ignore[call-overload]
    await call(http, gw, "POST", "/admin/providers/kimi/drain")
    for path in ("/admin/status", "/admin/providers", "/admin/grants", "/admin/spend", "/admin/failures",
                 "/admin/keys", "/admin/keys/k", "/admin/plan"):  # fmt: skip
        status, body = await call(http, gw, "GET", path)
        assert status == 200, (path, body)
        schema_path = "/admin/keys/{name}" if path == "/admin/keys/k" else path
        jsonschema.validate(body, _schema(doc, schema_path), cls=jsonschema.Draft202012Validator)
    status, body = await call(http, gw, "GET", "/admin/keys/nope")
    jsonschema.validate(body, _schema(doc, "/admin/keys/{name}", status="404"), cls=jsonschema.Draft202012Validator)
