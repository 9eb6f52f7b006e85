"""The authenticated HTTP control API: thin aiohttp handlers over `Control`, one method each.

A handler parses and validates (pydantic), calls one Control method and serialises its
view. Everything else is here once: bearer-token roles per operation (401 without a
known token, 403 with the wrong role), the body cap (413), domain errors as 4xx JSON
naming the field, a catch-all that logs an unexpected failure under an id and answers
500 without a traceback, one `event=api_request` log line per mutating request, one
`event=api_refused` line per 401 or 403 (any method), and `rlexec_service_api_requests_total`
by method, route template and status.

`/healthz`, `/readyz`, `/metrics`, `/openapi.json` and `/docs` need no token: probes and
Prometheus carry none, and what they reveal is no more than the metrics already do. The
server binds 127.0.0.1 unless told otherwise (`settings.api`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError

from rlexec import __version__
from rlexec.market.errors import IllegalTransitionError, RlexecError
from rlexec.market.settings import SettingsError
from rlexec.risk import LimitLooseningError, RiskError
from rlexec.service.api_models import (
    ErrorView,
    HealthView,
    KillRequest,
    ParentList,
    ResumeRequest,
    TightenRequest,
)
from rlexec.service.auth import Role, Tokens
from rlexec.service.config import ParentSpec
from rlexec.service.control import (
    Control,
    KillView,
    ParentNotFoundError,
    ParentView,
    ReadyView,
    RiskView,
)
from rlexec.service.metrics import ServiceMetrics
from rlexec.service.openapi import Operation, openapi_document, render_docs
from rlexec.service.parents import ClientIdConflictError, TradingHaltedError
from rlexec.service.state import StateError

log = logging.getLogger("rlexec.service.api")
MAX_BODY = 64 * 1024
"""Largest request body accepted (bytes); more gets 413."""
READ: frozenset[Role] = frozenset({"viewer", "trader", "risk"})
TRADE: frozenset[Role] = frozenset({"trader"})
STOP: frozenset[Role] = frozenset({"trader", "risk"})
RISK: frozenset[Role] = frozenset({"risk"})
ROLE = web.RequestKey("rlexec_role", str)
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A 4xx answer: the status, what is wrong and, where one is to blame, the field."""

    def __init__(
        self,
        status: int,
        error: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field
        self.headers = headers or {}


def build_app(
    control: Control, registry: CollectorRegistry, tokens: Tokens, *, max_body: int = MAX_BODY
) -> web.Application:
    handlers = _Handlers(control, registry)
    table = handlers.table()
    document = openapi_document(
        [op for op, _ in table],
        title="rlexec control API",
        version=__version__,
        description="Parent orders, the kill switch and risk limits of one rlexec service.",
    )
    handlers.document = document
    handlers.docs = render_docs(document)
    app = web.Application(
        client_max_size=max_body, middlewares=[_counted(control.service.metrics), _errors]
    )
    for op, handler in table:
        app.router.add_route(op.method, op.path, _guarded(op, handler, tokens))
    return app


def _guarded(op: Operation, handler: Handler, tokens: Tokens) -> Handler:
    roles = op.roles
    if roles is None:
        return handler
    needs = " or ".join(sorted(roles))

    async def guarded(request: web.Request) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        role = tokens.role_of(token.strip()) if scheme.lower() == "bearer" else None
        if role is None:
            raise ApiError(
                401,
                "a known bearer token is required" if token else "no bearer token",
                "Authorization",
                {"WWW-Authenticate": 'Bearer realm="rlexec"'},
            )
        request[ROLE] = role
        if role not in roles:
            raise ApiError(
                403, f"role {role} may not {op.method} {op.path} (needs {needs})", "Authorization"
            )
        return await handler(request)

    return guarded


def _who(named: str | None, request: web.Request) -> str:
    """Who the kill switch's history records: the name the caller gave, with the role its
    token proves (the name alone is only what the caller says), or the role."""
    role = str(request[ROLE])
    return f"{named} ({role} token)" if named else role


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except ApiError as exc:
        response = _error(exc.status, exc.error, exc.field, exc.headers)
    except web.HTTPException as exc:  # the router's 404/405, the body cap's 413
        field = "body" if exc.status == 413 else None
        headers = {k: v for k, v in exc.headers.items() if k == "Allow"}
        response = _error(exc.status, exc.reason, field, headers)
    except ParentNotFoundError as exc:
        response = _error(404, f"no parent {exc.args[0]!r}", "id")
    except LimitLooseningError as exc:
        response = _error(409, str(exc), exc.key)
    except SettingsError as exc:  # a limit value that is not valid at all
        response = _error(422, str(exc), exc.key)
    except IllegalTransitionError as exc:
        response = _error(409, str(exc), None)
    except RiskError as exc:
        response = _error(422, str(exc), None)
    except StateError as exc:  # e.g. a resume whose save the store refused: nothing changed
        response = _error(503, f"state store unavailable, nothing changed: {exc}", None)
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("event=api_error error_id=%s method=%s path=%s",
                      error_id, request.method, request.path)  # fmt: skip
        response = _error(500, f"internal error (logged as {error_id})", None, error_id=error_id)
    if response.status in (401, 403):  # whatever the method: someone tried a door
        log.warning("event=api_refused method=%s path=%s role=%s status=%d remote=%s",
                    request.method, request.path, request.get(ROLE, "-"), response.status,
                    request.remote)  # fmt: skip
    elif request.method not in ("GET", "HEAD"):
        log.info("event=api_request method=%s path=%s role=%s status=%d",
                 request.method, request.path, request.get(ROLE, "-"), response.status)  # fmt: skip
    return response


def _counted(metrics: ServiceMetrics) -> Middleware:
    """Count every answer by route template (never a parent id: bounded label values)."""
    requests = metrics.api_requests

    @web.middleware
    async def counted(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)  # `_errors`, inside, turns every failure into one
        info = request.match_info
        route = info.route.resource.canonical if info.route.resource is not None else "unmatched"
        requests.labels(method=request.method, route=route, status=str(response.status)).inc()
        return response

    return counted


def _error(
    status: int,
    error: str,
    field: str | None,
    headers: dict[str, str] | None = None,
    error_id: str | None = None,
) -> web.Response:
    body = ErrorView(error=error, field=field, error_id=error_id).model_dump_json()
    return web.Response(
        status=status, text=body, content_type="application/json", headers=headers or None
    )


def _json(view: BaseModel, status: int = 200) -> web.Response:
    return web.Response(status=status, text=view.model_dump_json(), content_type="application/json")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


async def read_model(request: web.Request, model: type[M]) -> M:
    """The body as `model`: 400 for malformed JSON, 422 naming the first field that fails."""
    raw = await request.read()  # over the cap: HTTPRequestEntityTooLarge (413)
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"malformed JSON body: {exc}", "body") from None
    if not isinstance(data, dict):
        raise ApiError(422, f"expected a JSON object, got {type(data).__name__}", "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ApiError(422, f"{field}: {first['msg']}{more}", field) from None


class _Handlers:
    def __init__(self, control: Control, registry: CollectorRegistry) -> None:
        self.control = control
        self.registry = registry
        self.document: dict[str, object] = {}
        self.docs = ""

    def table(self) -> list[tuple[Operation, Handler]]:
        o = Operation
        return [
            (o("POST", "/v1/parents", "Submit a parent order (201; 200 with the first parent "
               "when client_id repeats, until that parent is archived the day after it ended; "
               "409 if it repeats with a different order, or when halted)", TRADE, ParentSpec, ParentView, 201,
               also={200: ("The parent first submitted with this client_id", ParentView)},
               errors=(409,)),
             self.submit),
            (o("GET", "/v1/parents", "Every parent", READ, response=ParentList), self.parents),
            (o("GET", "/v1/parents/{id}", "One parent: progress, fills, IS, children", READ,
               response=ParentView, errors=(404,)), self.parent),
            (o("POST", "/v1/parents/{id}/pause", "Pause a working parent (its children are "
               "cancelled)", TRADE, response=ParentView, errors=(404, 409)), self.pause),
            (o("POST", "/v1/parents/{id}/resume", "Resume a paused parent", TRADE,
               response=ParentView, errors=(404, 409)), self.resume_parent),
            (o("POST", "/v1/parents/{id}/cancel", "Cancel a parent and its working children",
               TRADE, response=ParentView, errors=(404, 409)), self.cancel),
            (o("POST", "/v1/kill", "HALTED: nothing new, every parent and working child "
               "cancelled", STOP, KillRequest, KillView, errors=(409,)), self.kill),
            (o("POST", "/v1/kill/reduce", "REDUCING: only position-reducing orders", STOP,
               KillRequest, KillView, errors=(409,)), self.reduce),
            (o("POST", "/v1/resume", "Lift HALTED (to ACTIVE or REDUCING) or REDUCING",
               RISK, ResumeRequest, RiskView, errors=(409,)), self.resume_trading),
            (o("GET", "/v1/risk", "Kill-switch state, positions, limit utilisation", READ,
               response=RiskView), self.risk),
            (o("POST", "/v1/risk/limits", "Tighten limits (a loosening is refused: 409 naming "
               "the key)", RISK, TightenRequest, RiskView, errors=(409,)), self.tighten),
            (o("GET", "/healthz", "Liveness", None, response=HealthView), self.healthz),
            (o("GET", "/readyz", "Readiness, each check named (503 when not ready)", None,
               response=ReadyView, also={503: ("Not ready", ReadyView)}), self.readyz),
            (o("GET", "/metrics", "Prometheus metrics", None, media_type="text/plain"),
             self.metrics),
            (o("GET", "/openapi.json", "This document", None), self.openapi),
            (o("GET", "/docs", "The API as an HTML page", None, media_type="text/html"),
             self.docs_page),
        ]  # fmt: skip

    # -- parents -------------------------------------------------------------------------

    async def submit(self, request: web.Request) -> web.Response:
        spec = await read_model(request, ParentSpec)
        known = len(self.control.service.parents.parents)
        try:
            view = self.control.submit_parent(spec)
        except ValueError as exc:  # the only one: a symbol this service does not trade
            raise ApiError(422, str(exc), "symbol") from None
        except ClientIdConflictError as exc:
            raise ApiError(409, str(exc), "client_id") from None
        except TradingHaltedError as exc:
            raise ApiError(409, str(exc), None) from None
        except RlexecError as exc:  # an algo this service cannot build
            raise ApiError(422, str(exc), "algo") from None
        created = len(self.control.service.parents.parents) > known
        return _json(view, 201 if created else 200)

    async def parents(self, request: web.Request) -> web.Response:
        return _json(ParentList(parents=self.control.parents()))

    async def parent(self, request: web.Request) -> web.Response:
        return _json(self.control.parent(request.match_info["id"]))

    async def pause(self, request: web.Request) -> web.Response:
        return _json(self.control.pause_parent(request.match_info["id"]))

    async def resume_parent(self, request: web.Request) -> web.Response:
        return _json(self.control.resume_parent(request.match_info["id"]))

    async def cancel(self, request: web.Request) -> web.Response:
        return _json(self.control.cancel_parent(request.match_info["id"]))

    # -- the kill switch and risk ----------------------------------------------------------

    async def kill(self, request: web.Request) -> web.Response:
        body = await read_model(request, KillRequest)
        return _json(self.control.kill(_who(body.who, request), body.why))

    async def reduce(self, request: web.Request) -> web.Response:
        body = await read_model(request, KillRequest)
        return _json(self.control.reduce(_who(body.who, request), body.why))

    async def resume_trading(self, request: web.Request) -> web.Response:
        body = await read_model(request, ResumeRequest)
        return _json(self.control.resume_trading(_who(body.who, request), body.why, body.to))

    async def risk(self, request: web.Request) -> web.Response:
        return _json(self.control.risk())

    async def tighten(self, request: web.Request) -> web.Response:
        body = await read_model(request, TightenRequest)
        who = _who(body.who, request)
        return _json(self.control.tighten(who, body.why, body.changes, body.symbols))

    # -- health, metrics, documentation ------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return _json(HealthView(status="ok"))

    async def readyz(self, request: web.Request) -> web.Response:
        view = self.control.ready()
        return _json(view, 200 if view.ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})  # fmt: skip

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(self.document)

    async def docs_page(self, request: web.Request) -> web.Response:
        return web.Response(text=self.docs, content_type="text/html")
