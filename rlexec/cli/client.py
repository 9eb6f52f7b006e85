"""The HTTP client behind `rlexec parents|kill|resume`: one call per command, JSON or a short
table on stdout, any refusal as one line (an `RlexecError`, exit 2).

The API address comes from `--api HOST:PORT` (default `RLEXEC_API`, else 127.0.0.1:8080);
the bearer token from `RLEXEC_API_TOKEN`, never from the command line (it would show in
`ps` and in shell history).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, TextIO

from rlexec.market.errors import RlexecError

API_ENV = "RLEXEC_API"
TOKEN_ENV = "RLEXEC_API_TOKEN"
DEFAULT_API = "127.0.0.1:8080"
TERMINAL = frozenset({"completed", "cancelled", "failed"})


class ApiClientError(RlexecError):
    """The API refused or could not be reached: the status and the server's own reason."""


class ApiClient:
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

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self.call("POST", path, body)

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise ApiClientError(self._refusal(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiClientError(f"cannot reach the API at {self.base}: {reason}") from None
        except ValueError:
            raise ApiClientError(f"{method} {path}: the answer is not JSON") from None

    def _refusal(self, exc: urllib.error.HTTPError) -> str:
        try:
            error = json.loads(exc.read())
            text = str(error["error"])
            field = error.get("field")
        except (ValueError, KeyError, TypeError, OSError):
            text, field = exc.reason, None
        where = f" [{field}]" if field and field != "Authorization" else ""
        hint = ""
        if exc.code == 401:
            hint = f" (set {TOKEN_ENV})" if not self.token else f" (check {TOKEN_ENV})"
        return f"HTTP {exc.code}: {text}{where}{hint}"


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
        parent: dict[str, Any] = client.get(f"/v1/parents/{pid}")
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
