"""The admin API's OpenAPI 3.1 document, generated from the route table (:data:`balancer.admin.routes.OPS`) and
the msgspec types its handlers decode and encode: what is served is what is described."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from balancer.admin.routes import DOCUMENT, OPS, PAGES, Op
from balancer.errors import ErrorBody

REF = "#/components/schemas/{name}"
_REASONS = {
    400: "Invalid query or body",
    401: "No or wrong admin key",
    403: "A client key, not an admin key",
    404: "No such provider or key",
    409: "Conflicts with the keys as they are",
    503: "Not possible now (not started, the state store out of reach, the re-plan failed)",
}


def document(version: str) -> dict[str, Any]:
    types: list[Any] = [ErrorBody]
    for op in OPS:
        types += [op.answer, *([op.body] if op.body is not None else [])]
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    error = {"content": {"application/json": {"schema": schemas[0]}}}
    answers = iter(schemas[1:])
    paths: dict[str, dict[str, Any]] = {}
    for op in OPS:
        answer = next(answers)
        body = next(answers) if op.body is not None else None
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, answer, body, error)
    for path, name, summary, status in PAGES:
        paths[path] = {"get": _page(path, name, summary, status)}
    paths[DOCUMENT] = {
        "get": {
            "summary": "This document.",
            "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Qiao admin API",
            "version": version,
            "description": "Operate the gateway: providers, balances, the credit plan, spend, failures and client "
            "keys. Every operation needs an admin key (admin_keys: in the config) as a bearer token.",
        },
        "servers": [{"url": "/"}],
        "security": [{"adminKey": []}],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer"}}},
    }


def _page(path: str, name: str, summary: str, status: int) -> dict[str, Any]:
    responses = {
        str(status): {"description": summary},
        **({"404": {"description": "No such file"}} if "{" in path else {}),
    }
    return {
        "summary": summary,
        "operationId": name,
        "security": [],
        "parameters": _path_params(path),
        "responses": responses,
    }


def _path_params(path: str) -> list[dict[str, Any]]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in re.findall(r"{(\w+)}", path)
    ]


def _operation(op: Op, answer: dict[str, Any], body: dict[str, Any] | None, error: dict[str, Any]) -> dict[str, Any]:
    params = _path_params(op.path)
    for f in msgspec.structs.fields(op.query):
        schema = msgspec.json.schema(f.type)
        params.append({"name": f.name, "in": "query", "required": f.required, "schema": schema})
    responses: dict[str, Any] = {
        str(op.status): {"description": "OK", "content": {"application/json": {"schema": answer}}}
    }
    codes = {401, 403, *op.errors, *([400] if body is not None or params else [])}
    for code in sorted(codes):
        responses[str(code)] = {"description": _REASONS[code], **error}
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.handler,
        "parameters": params,
        "responses": responses,
    }
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if op.changes:
        out["description"] = "A change: logged as admin_change with the admin key's name."
    return out
