"""`rlexec kill|resume|parents` against real loopback servers that misbehave, and with a proxy
in the environment: the control client goes straight to the service, and every broken
answer is one line on stderr, exit 2, never a traceback or an "internal error".

The CLI runs as a subprocess, as an operator runs it: `urllib`'s own opener is cached per
process, so only a fresh process shows what the proxy variables do to it."""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from rlexec.service.control import ChildView, KillView, ParentView

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "trader-token-SECRET-0123456789"


class Seen(NamedTuple):
    """One request a server received, exactly as it arrived."""

    requestline: str
    headers: dict[str, str]
    raw: bytes


class Recording(ThreadingHTTPServer):
    """A real HTTP server that records every request and answers each with one canned reply."""

    daemon_threads = True

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body
        self.seen: list[Seen] = []
        super().__init__(("127.0.0.1", 0), _Recorder)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Recorder(BaseHTTPRequestHandler):
    server: Recording

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        raw = f"{self.requestline}\r\n{self.headers}".encode() + body
        self.server.seen.append(Seen(self.requestline, dict(self.headers.items()), raw))
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(self.server.body)

    def do_GET(self) -> None:  # http.server's names
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class Raw(socketserver.ThreadingTCPServer):
    """A real TCP server that reads one HTTP request, writes `reply` verbatim and closes: what
    a port that is not our API, or a broken one, answers."""

    daemon_threads = True

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        super().__init__(("127.0.0.1", 0), _RawReply)


class _RawReply(socketserver.StreamRequestHandler):
    server: Raw

    def handle(self) -> None:
        length = 0
        while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        self.rfile.read(length)  # all of it, so closing sends FIN, not RST
        self.wfile.write(self.server.reply)


@pytest.fixture
def serve() -> Iterator[Callable[[socketserver.TCPServer], int]]:
    """Start a server on a thread; returns its port. Each is shut down after the test."""
    started: list[socketserver.TCPServer] = []

    def start(server: socketserver.TCPServer) -> int:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return int(server.server_address[1])

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An operator's shell: the token set, no proxy (nor a no_proxy that would hide one)."""
    for name in list(os.environ):
        if "proxy" in name.lower() or name in ("RLEXEC_API", "REQUEST_METHOD"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RLEXEC_API_TOKEN", TOKEN)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return monkeypatch


def rlexec(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "rlexec.cli.main", *args, "--api", f"127.0.0.1:{port}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def assert_one_line(done: subprocess.CompletedProcess[str], command: str, port: int) -> str:
    """Exit 2, one line naming the API; returns what follows the prefix."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    prefix = f"rlexec {command}: error: bad answer from the API at http://127.0.0.1:{port}: "
    assert done.stderr.startswith(prefix), done.stderr
    return done.stderr[len(prefix) :].rstrip("\n")


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY"])
def test_kill_goes_straight_to_the_api_whatever_the_proxy_variables_say(
    serve: Callable[[socketserver.TCPServer], int],
    operator_env: pytest.MonkeyPatch,
    variable: str,
) -> None:
    api = Recording(200, KillView(state="HALTED", cancels_sent=3, parents_cancelled=1)
                    .model_dump_json().encode())  # fmt: skip
    proxy = Recording(502, b'{"error": "the proxy answered"}')
    port = serve(api)
    serve(proxy)
    operator_env.setenv(variable, proxy.url)
    done = rlexec(port, "kill", "--why", "venue looks wrong")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "HALTED: 3 cancels sent, 1 parents cancelled\n"
    assert proxy.seen == []  # and so never saw the token
    [request] = api.seen
    assert request.requestline == "POST /v1/kill HTTP/1.1"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("reply", "expect"),
    [
        (b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01",
         "not HTTP (the first line is '8=FIX.4.4\\x019=5\\x0135=0\\x0110=000\\x01')"),
        (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"state"',
         "the answer was cut short after 8 of 100 bytes"),
        (b"", "the connection closed without an answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n<html>", "POST /v1/kill: the answer is not JSON"),
    ],
    ids=["not-http", "body-cut-short", "closed-without-answer", "not-json"],
)  # fmt: skip
def test_a_broken_answer_is_one_line_exit_2(
    serve: Callable[[socketserver.TCPServer], int],
    operator_env: pytest.MonkeyPatch,
    reply: bytes,
    expect: str,
) -> None:
    port = serve(Raw(reply))
    assert assert_one_line(rlexec(port, "kill", "--why", "x"), "kill", port) == expect


def parent(**changes: Any) -> dict[str, Any]:
    """A parent as the API serves it (its own model), with `changes` applied."""
    child = ChildView(cl_ord_id="C1", state="working", side="buy", quantity=100, price=10.5,
                      filled=0, avg_price=None)  # fmt: skip
    view = ParentView(id="P1", state="working", symbol="AAPL", side="buy", quantity=1000,
                      filled=0, avg_price=None, is_bps=None, algo="twap", horizon_s=60.0,
                      limit_price=None, max_participation=None, client_id=None,
                      arrival_mid=10.0, schedule_filled=0, child_orders=1, fills=0,
                      risk_denials=0, decisions=1, reason="", children=[child])  # fmt: skip
    return view.model_dump(mode="json") | changes


KILLED = {"state": "HALTED", "cancels_sent": 0, "parents_cancelled": 0}


@pytest.mark.parametrize(
    ("args", "answer", "expect"),
    [
        (("kill", "--why", "x"), [], "POST /v1/kill: the answer is an array, expected an object"),
        (("kill", "--why", "x", "--json"), [],
         "POST /v1/kill: the answer is an array, expected an object"),
        (("kill", "--why", "x", "--reduce"), {"state": "REDUCING", "cancels_sent": 0},
         "POST /v1/kill/reduce: the answer has no 'parents_cancelled'"),
        (("kill", "--why", "x"), KILLED | {"cancels_sent": None},
         "POST /v1/kill: the answer: 'cancels_sent' is null, expected an integer"),
        (("resume", "--who", "ann", "--why", "x"), "ACTIVE",
         "POST /v1/resume: the answer is a string, expected an object"),
        (("resume", "--who", "ann", "--why", "x"), {"state": "ACTIVE", "working_orders": "3"},
         "POST /v1/resume: the answer: 'working_orders' is a string, expected an integer"),
        (("parents", "list"), {"parents": {}},
         "GET /v1/parents: the answer: 'parents' is an object, expected an array"),
        (("parents", "list"), {"parents": [parent(), {k: v for k, v in parent().items() if k != "symbol"}]},
         "GET /v1/parents: parents[1] has no 'symbol'"),
        (("parents", "show", "P1"), parent(children=[{"cl_ord_id": "C1"}]),
         "GET /v1/parents/P1: children[0] has no 'state'"),
        (("parents", "show", "P1", "--follow"), parent(quantity=True),
         "GET /v1/parents/P1: the answer: 'quantity' is a boolean, expected an integer"),
        (("parents", "cancel", "P1"), parent(avg_price="10.5"),
         "POST /v1/parents/P1/cancel: the answer: 'avg_price' is a string, expected a number or null"),
    ],
    ids=["kill-list", "kill-json-list", "reduce-missing", "kill-null", "resume-string",
         "resume-ill-typed", "list-object", "list-missing", "show-child", "follow-bool", "cancel"],
)  # fmt: skip
def test_an_answer_of_the_wrong_shape_is_one_line_exit_2(
    serve: Callable[[socketserver.TCPServer], int],
    operator_env: pytest.MonkeyPatch,
    args: tuple[str, ...],
    answer: Any,
    expect: str,
) -> None:
    port = serve(Recording(200, json.dumps(answer).encode()))
    assert assert_one_line(rlexec(port, *args), args[0], port) == expect


def test_the_api_s_own_views_pass_the_checks(
    serve: Callable[[socketserver.TCPServer], int], operator_env: pytest.MonkeyPatch
) -> None:
    """The checks read what the API's models serve: a well-formed parent is shown."""
    port = serve(Recording(200, json.dumps(parent()).encode()))
    done = rlexec(port, "parents", "show", "P1")
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.startswith("P1 working") and "child C1 working buy 100 @ 10.50" in done.stdout
    )


def test_a_redirect_is_refused_not_followed_with_the_token(
    serve: Callable[[socketserver.TCPServer], int], operator_env: pytest.MonkeyPatch
) -> None:
    elsewhere = Recording(200, b"{}")
    serve(elsewhere)
    reply = f"HTTP/1.1 303 See Other\r\nLocation: {elsewhere.url}/v1/kill\r\n"
    port = serve(Raw(reply.encode() + b"Content-Length: 0\r\n\r\n"))
    done = rlexec(port, "kill", "--why", "x")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("rlexec kill: error: HTTP 303"), done.stderr
    assert elsewhere.seen == [], "the token went where the redirect pointed"


def test_a_kill_the_store_did_not_save_is_a_warning_on_stderr(
    serve: Callable[[socketserver.TCPServer], int], operator_env: pytest.MonkeyPatch
) -> None:
    view = KillView(state="HALTED", cancels_sent=2, parents_cancelled=1, persisted=False)
    port = serve(Recording(200, view.model_dump_json().encode()))
    done = rlexec(port, "kill", "--why", "store down")
    assert done.returncode == 0, done.stderr  # the kill took effect: its cancels went out
    assert done.stdout == "HALTED: 2 cancels sent, 1 parents cancelled\n"
    assert done.stderr.startswith("rlexec kill: warning: HALTED took effect, but the state "
                                  "store refused it"), done.stderr  # fmt: skip
