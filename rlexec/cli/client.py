"""The HTTP client behind `rlexec parents|kill|resume`: one call per command, JSON or a short
table on stdout, any refusal as one line (an `RlexecError`, exit 2).

The API address comes from `--api HOST:PORT` (default `RLEXEC_API`, else 127.0.0.1:8080);
the bearer token from `RLEXEC_API_TOKEN`, never from the command line (it would show in
`ps` and in shell history).

The client never goes through a proxy, whatever `http_proxy` / `all_proxy` say, and never
follows a redirect: the control API is an operator's direct line to the service, and a kill
sent elsewhere fails and hands the token over. An answer that is not HTTP, is cut short, is not JSON or lacks a field the
command reads is "bad answer from the API" (exit 2), never an internal error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TextIO, TypeVar

from rlexec.market.errors import RlexecError

API_ENV = "RLEXEC_API"
TOKEN_ENV = "RLEXEC_API_TOKEN"
DEFAULT_API = "127.0.0.1:8080"
TERMINAL = frozenset({"completed", "cancelled", "failed"})


class ApiClientError(RlexecError):
    """The API refused or could not be reached: the status and the server's own reason."""


T = TypeVar("T")


class ApiClient:
    """One HTTP call per command, straight to the service (no proxy), JSON in and out."""

    def __init__(self, api: str, token: str | None, timeout: float = 10.0) -> None:
        self.base = api if "://" in api else f"http://{api}"
        url = urllib.parse.urlsplit(self.base)
        try:
            port = url.port
        except ValueError:
            port = -1
        if url.scheme not in ("http", "https") or not url.hostname or port == -1:
            raise ApiClientError(f"--api / {API_ENV} {api!r}: expected HOST:PORT or an http(s) URL")
        if token is not None and not token.isprintable():
            raise ApiClientError(f"{TOKEN_ENV} holds a control character (a stray newline?)")
        self.token = token
        self.timeout = timeout
        # No ProxyHandler from the environment: straight to the service, never via a proxy;
        # and no redirects, which urllib follows with the Authorization header still on.
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _RefuseRedirects()
        )

    def get(self, path: str, *, shape: Callable[[Any], T]) -> T:
        return self.call("GET", path, shape=shape)

    def post(
        self, path: str, body: Mapping[str, Any] | None = None, *, shape: Callable[[Any], T]
    ) -> T:
        return self.call("POST", path, body, shape=shape)

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        shape: Callable[[Any], T],
    ) -> T:
        """The answer as `shape` reads it (`kill_view`, `parent_view`, ...): a command reads
        fields from it, so one missing or ill-typed is refused here, in one line, not as a
        KeyError or TypeError later."""
        answer = self.fetch(method, path, body)
        try:
            return shape(answer)
        except ShapeError as exc:
            raise ApiClientError(
                f"bad answer from the API at {self.base}: {method} {path}: {exc}"
            ) from None

    def fetch(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON answer, whatever its shape."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with self.opener.open(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise ApiClientError(self._refusal(exc)) from None
        except http.client.HTTPException as exc:  # before OSError: RemoteDisconnected is both
            raise ApiClientError(
                f"bad answer from the API at {self.base}: {_protocol(exc)}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiClientError(f"cannot reach the API at {self.base}: {reason}") from None
        except (ValueError, RecursionError):  # RecursionError: JSON nested beyond the parser
            raise ApiClientError(
                f"bad answer from the API at {self.base}: {method} {path}: the answer is not JSON"
            ) from None

    def _refusal(self, exc: urllib.error.HTTPError) -> str:
        try:
            error = json.loads(exc.read())
            text = str(error["error"])
            field = error.get("field")
        except (ValueError, KeyError, TypeError, OSError, http.client.HTTPException):
            text, field = exc.reason, None  # a refusal whose body is unreadable: its status
        where = f" [{field}]" if field and field != "Authorization" else ""
        hint = ""
        if exc.code == 401:
            hint = f" (set {TOKEN_ENV})" if not self.token else f" (check {TOKEN_ENV})"
        return f"HTTP {exc.code}: {text}{where}{hint}"


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is answered as the refusal it is (HTTP 30x), never followed: the service never
    redirects, and following one would hand the token to wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _protocol(exc: http.client.HTTPException) -> str:
    """What was wrong with an HTTP answer, in one line (a raw status line can hold anything)."""
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the connection closed without an answer"
    if isinstance(exc, http.client.BadStatusLine):
        return f"not HTTP (the first line is {_clip(str(exc))})"
    if isinstance(exc, http.client.IncompleteRead):
        got = len(exc.partial)
        total = f" of {got + exc.expected}" if exc.expected is not None else ""
        return f"the answer was cut short after {got}{total} bytes"
    return f"{type(exc).__name__}: {_clip(str(exc))}"


def _clip(text: str, limit: int = 60) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


class ShapeError(ValueError):
    """An answer that is JSON but not what a command reads: which field, and what it is."""


class Kind(NamedTuple):
    """A JSON type a field must have: its name in a message, the Python types it decodes to."""

    name: str
    types: tuple[type, ...]


STRING = Kind("a string", (str,))
INTEGER = Kind("an integer", (int,))
NUMBER = Kind("a number", (int, float))
NUMBER_OR_NULL = Kind("a number or null", (int, float, type(None)))
ARRAY = Kind("an array", (list,))

KILL_FIELDS = {"state": STRING, "cancels_sent": INTEGER, "parents_cancelled": INTEGER}
RISK_FIELDS = {"state": STRING, "working_orders": INTEGER}
PARENT_FIELDS = {
    "id": STRING, "state": STRING, "side": STRING, "quantity": INTEGER, "symbol": STRING,
    "algo": STRING, "horizon_s": NUMBER, "filled": INTEGER, "schedule_filled": INTEGER,
    "avg_price": NUMBER_OR_NULL, "is_bps": NUMBER_OR_NULL, "arrival_mid": NUMBER_OR_NULL,
    "child_orders": INTEGER, "fills": INTEGER, "risk_denials": INTEGER,
}  # fmt: skip
CHILD_FIELDS = {
    "cl_ord_id": STRING, "state": STRING, "side": STRING, "quantity": INTEGER,
    "price": NUMBER_OR_NULL, "filled": INTEGER,
}  # fmt: skip


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                       (str, "a string"), (list, "an array"), (dict, "an object")):  # fmt: skip
        if isinstance(value, kind):
            return name
    return type(value).__name__


def json_object(value: Any, fields: Mapping[str, Kind], at: str = "the answer") -> dict[str, Any]:
    """`value` as an object holding each of `fields` with its kind (a bool is no integer)."""
    if not isinstance(value, dict):
        raise ShapeError(f"{at} is {_json_name(value)}, expected an object")
    for name, kind in fields.items():
        if name not in value:
            raise ShapeError(f"{at} has no {name!r}")
        field = value[name]
        if not isinstance(field, kind.types) or (
            isinstance(field, bool) and bool not in kind.types
        ):
            raise ShapeError(f"{at}: {name!r} is {_json_name(field)}, expected {kind.name}")
    return value


def kill_view(answer: Any) -> dict[str, Any]:
    return json_object(answer, KILL_FIELDS)


def risk_view(answer: Any) -> dict[str, Any]:
    return json_object(answer, RISK_FIELDS)


def parent_view(answer: Any, at: str = "the answer") -> dict[str, Any]:
    """A parent as `progress_line`, `parent_summary` and `parent_table` read it."""
    parent = json_object(answer, PARENT_FIELDS, at)
    if "children" in parent:
        children = json_object(parent, {"children": ARRAY}, at)["children"]
        prefix = "" if at == "the answer" else f"{at}."
        for i, child in enumerate(children):
            json_object(child, CHILD_FIELDS, f"{prefix}children[{i}]")
    return parent


def parent_list(answer: Any) -> list[dict[str, Any]]:
    parents = json_object(answer, {"parents": ARRAY})["parents"]
    return [parent_view(p, f"parents[{i}]") for i, p in enumerate(parents)]


def add_api_arguments(parser: argparse.ArgumentParser, *, again: bool = False) -> None:
    """`again`: on an action's subparser, so `rlexec parents list --api H:P` works as well as
    `rlexec parents --api H:P list`; absent there, the value given before the action stands."""
    parser.add_argument(
        "--api",
        default=argparse.SUPPRESS if again else os.environ.get(API_ENV, DEFAULT_API),
        metavar="HOST:PORT",
        help=f"the service's HTTP API (default ${API_ENV} or {DEFAULT_API}); "
        f"token from ${TOKEN_ENV}",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if again else False,
        help="print the answer as JSON",
    )


def client_from_args(args: argparse.Namespace) -> ApiClient:
    return ApiClient(args.api, os.environ.get(TOKEN_ENV) or None)


def print_json(value: Any, out: TextIO | None = None) -> None:
    print(json.dumps(value, indent=2), file=out or sys.stdout)


def _num(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def parent_table(parents: list[dict[str, Any]]) -> str:
    rows = [("ID", "STATE", "SIDE", "QTY", "SYMBOL", "ALGO", "FILLED", "AVG", "IS_BPS")]
    for p in parents:
        rows.append((p["id"], p["state"], p["side"], str(p["quantity"]), p["symbol"], p["algo"],
                     str(p["filled"]), _num(p["avg_price"]), _num(p["is_bps"])))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)  # fmt: skip


def progress_line(p: Mapping[str, Any], width: int = 24) -> str:
    """`ID STATE [████····] filled/qty (schedule N) avg P IS x bps`."""
    qty = max(1, int(p["quantity"]))
    frac = min(1.0, int(p["filled"]) / qty)
    bar = "█" * round(width * frac) + "·" * (width - round(width * frac))
    return (f"{p['id']} {p['state']:<9} [{bar}] {p['filled']}/{p['quantity']} "
            f"(schedule {p['schedule_filled']}) avg {_num(p['avg_price'])} "
            f"IS {_num(p['is_bps'])} bps children {p['child_orders']}")  # fmt: skip


def parent_summary(p: Mapping[str, Any]) -> str:
    lines = [progress_line(p)]
    lines.append(f"  {p['side']} {p['quantity']} {p['symbol']} over {p['horizon_s']:g}s with "
                 f"{p['algo']}; arrival mid {_num(p['arrival_mid'])}; fills {p['fills']}; "
                 f"risk denials {p['risk_denials']}")  # fmt: skip
    if p.get("reason"):
        lines.append(f"  reason: {p['reason']}")
    for c in p.get("children", []):
        lines.append(f"  child {c['cl_ord_id']} {c['state']} {c['side']} {c['quantity']} @ "
                     f"{_num(c['price'])} filled {c['filled']}")  # fmt: skip
    return "\n".join(lines)


def follow(client: ApiClient, pid: str, out: TextIO, interval_s: float = 0.5) -> dict[str, Any]:
    """Redraw the parent's progress line until it is terminal; returns its last view."""
    redraw = out.isatty()
    last = ""
    while True:
        parent = client.get(f"/v1/parents/{pid}", shape=parent_view)
        line = progress_line(parent)
        if redraw:
            out.write(f"\r{line}\x1b[K")
            out.flush()
        elif line != last:
            print(line, file=out, flush=True)
        last = line
        if parent["state"] in TERMINAL:
            if redraw:
                out.write("\n")
            return parent
        time.sleep(interval_s)
