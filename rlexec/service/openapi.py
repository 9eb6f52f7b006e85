"""The OpenAPI 3.1 document, assembled from the operations the API serves and the pydantic
models its handlers validate with (pydantic's own JSON Schema: no hand-written copy), and
a self-contained HTML page listing it (no CDN is reachable offline).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from rlexec.service.api_models import ErrorView
from rlexec.service.auth import Role

SCHEME = "bearerAuth"
ERRORS = {
    400: "Malformed JSON (field `body`)",
    401: "No token, or a token this server does not know",
    403: "A known token whose role may not do this",
    404: "No such parent (field `id`)",
    409: "Not allowed in the current state, or a limit change that loosens (field = the key)",
    413: "Request body larger than the cap",
    422: "A field fails validation (field = its path)",
    500: "Unexpected failure; the body carries the id it was logged under",
}
_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Operation:
    method: Literal["GET", "POST"]
    path: str
    summary: str
    roles: frozenset[Role] | None
    """Roles allowed; None = no token needed."""
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"
    """For answers that are not a model: `text/plain` (metrics), `text/html` (docs)."""
    also: dict[int, tuple[str, type[BaseModel]]] = field(default_factory=dict)
    """Further non-error answers: status → (description, model)."""

    @property
    def operation_id(self) -> str:
        words = re.sub(r"[{}]", "", self.path).strip("/").replace("/", "_").replace("-", "_")
        return f"{self.method.lower()}_{words or 'root'}"


def openapi_document(
    operations: Sequence[Operation], *, title: str, version: str, description: str
) -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorView, "serialization")]
    for op in operations:
        if op.request is not None:
            wanted.append((op.request, "validation"))
        if op.response is not None:
            wanted.append((op.response, "serialization"))
        wanted.extend((model, "serialization") for _, model in op.also.values())
    unique = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": _json_schema_bounds(top.get("$defs", {})),
            "securitySchemes": {
                SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from RLEXEC_API_TOKENS / RLEXEC_API_TOKEN_FILE; "
                    "its role (viewer, trader, risk) decides what it may do.",
                }
            },
        },
    }


Refs = dict[Any, Any]
"""(model, mode) → the `$ref` pydantic assigned it."""


def _operation(op: Operation, refs: Refs) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.roles is None:
        out["security"] = []
        out["description"] = "No token needed."
    else:
        roles = sorted(op.roles)
        out["security"] = [{SCHEME: []}]
        out["x-roles"] = roles
        out["description"] = f"Roles: {', '.join(roles)}."
    params = _PATH_PARAM.findall(op.path)
    if params:
        out["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ]
    if op.request is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.request, "validation")]}},
        }
    responses: dict[str, Any] = {}
    if op.response is not None:
        schema = refs[(op.response, "serialization")]
        responses[str(op.status)] = _answer("OK", schema)
    else:
        responses[str(op.status)] = {
            "description": "OK",
            "content": {op.media_type: {"schema": {"type": "string"}}},
        }
    for status, (text, model) in op.also.items():
        responses[str(status)] = _answer(text, refs[(model, "serialization")])
    error_schema = refs[(ErrorView, "serialization")]
    codes = set(op.errors) | {500}
    if op.roles is not None:
        codes |= {401, 403}
    if op.request is not None:
        codes |= {400, 413, 422}
    for code in sorted(codes):
        responses[str(code)] = _answer(ERRORS[code], error_schema)
    if "401" in responses:
        responses["401"]["headers"] = {
            "WWW-Authenticate": {"schema": {"type": "string"}, "required": True}
        }
    out["responses"] = responses
    return out


_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _json_schema_bounds(node: Any) -> Any:
    """pydantic writes `Field(gt=0)` behind a `BeforeValidator` as a bare `gt` keyword, which
    JSON Schema does not know; spell such bounds as JSON Schema does."""
    if isinstance(node, list):
        return [_json_schema_bounds(n) for n in node]
    if not isinstance(node, dict):
        return node
    numeric = node.get("type") in ("integer", "number")
    return {
        (_BOUNDS[k] if numeric and k in _BOUNDS else k): _json_schema_bounds(v)
        for k, v in node.items()
    }


def _answer(description: str, schema: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def render_docs(document: dict[str, Any]) -> str:
    """One HTML page: every operation with its roles, request and answer schemas."""
    esc = html.escape
    info = document["info"]
    rows: list[str] = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            roles = ", ".join(op.get("x-roles", [])) or "public"
            answers = ", ".join(op["responses"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            request = esc(ref.rsplit("/", 1)[-1]) if ref else "—"
            rows.append(
                f"<tr><td><code>{esc(method.upper())}</code></td><td><code>{esc(path)}</code>"
                f"</td><td>{esc(op['summary'])}</td><td>{esc(roles)}</td><td>{request}</td>"
                f"<td>{esc(answers)}</td></tr>"
            )
    schemas = "".join(
        f"<h3 id='{esc(name)}'>{esc(name)}</h3><pre>{esc(_fields(schema))}</pre>"
        for name, schema in document["components"]["schemas"].items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(info['title'])}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}"
        "pre{background:#f6f6f6;padding:.5em}</style></head><body>"
        f"<h1>{esc(info['title'])} {esc(info['version'])}</h1><p>{esc(info['description'])}</p>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. "
        "Authenticate with <code>Authorization: Bearer TOKEN</code>.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>roles</th><th>body</th>"
        f"<th>answers</th></tr>{''.join(rows)}</table><h2>Schemas</h2>{schemas}</body></html>"
    )


def _fields(schema: dict[str, Any]) -> str:
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    lines = []
    for name, prop in props.items():
        kind = prop.get("type") or prop.get("$ref", "").rsplit("/", 1)[-1]
        if not kind and "anyOf" in prop:
            kind = " | ".join(
                a.get("type") or a.get("$ref", "?").rsplit("/", 1)[-1] for a in prop["anyOf"]
            )
        if "enum" in prop:
            kind = " | ".join(map(str, prop["enum"]))
        lines.append(f"{name}{'' if name in required else '?'}: {kind}")
    return "\n".join(lines) or "(see /openapi.json)"
