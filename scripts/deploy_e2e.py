"""End-to-end checks against the running compose stack (driven by scripts/deploy-test.sh).

Talks to the stack only through what a user has: the published API, the published
Prometheus and `docker compose`. Each step prints one `event=... seconds=...` line; the first
failed expectation stops the run with the step and what was seen (exit 1).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # stubs are not a dependency

from rlexec import native

API = os.environ["DEPLOY_API_URL"]
PROM = os.environ["DEPLOY_PROM_URL"]
COMPOSE = os.environ["DEPLOY_COMPOSE"].split()
TOKENS = dict(t.split(":", 1) for t in os.environ["RLEXEC_API_TOKENS"].split(","))
ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("rlexec_service_", "rlexec_fix_", "rlexec_risk_", "rlexec_venue_")
GRAFANA_VARS = {
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval": "15s",
    "${__interval}": "15s",
    "$__range": "5m",
    "${__range}": "5m",
}


class CheckFailedError(Exception):
    pass


def log(event: str, **fields: Any) -> None:
    print(f"event={event} " + " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


def http(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, text.decode(errors="replace")


def api(method: str, path: str, body: dict[str, Any] | None = None, role: str = "trader") -> Any:
    status, answer = http(method, API + path, body, TOKENS[role])
    if status >= 300:
        raise CheckFailedError(f"{method} {path}: HTTP {status}: {answer}")
    return answer


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, CheckFailedError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise CheckFailedError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def prom(query: str) -> list[dict[str, Any]]:
    url = f"{PROM}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    status, answer = http("GET", url)
    if status != 200 or not isinstance(answer, dict) or answer.get("status") != "success":
        raise CheckFailedError(f"PromQL {query!r}: HTTP {status}: {answer}")
    result = answer["data"]["result"]
    return result if isinstance(result, list) else [result]


def parent(pid: str) -> dict[str, Any]:
    view: dict[str, Any] = api("GET", f"/v1/parents/{pid}", role="viewer")
    return view


def submit(quantity: int, horizon_s: int, algo: str = "twap") -> str:
    body = {"symbol": "AAPL", "side": "buy", "quantity": quantity, "horizon_s": horizon_s,
            "algo": algo}  # fmt: skip
    view = api("POST", "/v1/parents", body)
    return str(view["id"])


def compose(*args: str) -> None:
    subprocess.run([*COMPOSE, *args], check=True, stdout=sys.stderr)


# --- the steps -------------------------------------------------------------------------------


def step_ready() -> None:
    def ready() -> bool:
        status, _ = http("GET", API + "/readyz")
        return status == 200

    wait_for("/readyz to answer 200 (FIX sessions, market data, store, model)", ready, 120)
    status, _ = http("GET", API + "/v1/parents")
    if status != 401:
        raise CheckFailedError(f"GET /v1/parents without a token answered {status}, not 401")


def step_parent_fills() -> str:
    pid = submit(2_000, 120, algo="rl")

    def done() -> dict[str, Any] | None:
        view = parent(pid)
        if view["state"] in ("cancelled", "failed"):
            raise SystemExit(f"parent {pid} ended {view['state']}: {view['reason']}")
        return view if view["state"] == "completed" else None

    view = wait_for(f"parent {pid} to complete", done, 180)
    if view["filled"] != view["quantity"]:
        raise CheckFailedError(
            f"parent {pid} completed with {view['filled']} of {view['quantity']}"
        )
    log("parent_filled", id=pid, filled=view["filled"], child_orders=view["child_orders"],
        avg_price=view["avg_price"], is_bps=view["is_bps"])  # fmt: skip
    return pid


def step_prometheus() -> None:
    def all_up() -> list[dict[str, Any]] | None:
        status, answer = http("GET", PROM + "/api/v1/targets")
        targets = answer["data"]["activeTargets"] if status == 200 else []
        jobs = {t["labels"]["job"] for t in targets}
        healthy = targets and all(t["health"] == "up" for t in targets)
        return targets if healthy and {"rlexec", "venue"} <= jobs else None

    targets = wait_for("every Prometheus target up", all_up, 60, every=1)
    log("prometheus_targets_up", targets=",".join(t["labels"]["job"] for t in targets))
    for family in FAMILIES:
        query = f'count by (__name__) ({{__name__=~"{family}.*"}})'
        names = wait_for(f"{family}* series in Prometheus", partial(prom, query), 30)
        log("prometheus_family", family=family + "*", metrics=len(names))
    # The image's build stage has a compiler: both processes run the compiled receive loops.
    compiled = {r["metric"]["job"]: r["value"][1] for r in prom("rlexec_fix_codec_compiled")}
    if compiled != {"rlexec": "1", "venue": "1"}:
        raise CheckFailedError(f"rlexec_fix_codec_compiled by job is {compiled}, not 1 for both")
    log("fix_codec_compiled", jobs=",".join(sorted(compiled)))
    policy = [r["value"][1] for r in prom("rlexec_service_policy_compiled")]
    if policy != ["1"]:
        raise CheckFailedError(f"rlexec_service_policy_compiled is {policy}, not 1: the image "
                               "runs the policy in ONNX Runtime (see its service_started line)")  # fmt: skip
    log("policy_compiled")
    modules = [r["value"][1] for r in prom("rlexec_service_compiled_modules")]
    if modules != [str(len(native.MODULES))]:
        raise CheckFailedError(f"rlexec_service_compiled_modules is {modules}, not "
                               f"{len(native.MODULES)}: the image's build skipped mypyc")  # fmt: skip
    log("compiled_modules", modules=modules[0])


def _panel_exprs(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for panel in panels:
        yield from _panel_exprs(panel.get("panels", []))
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield str(panel.get("title", "?")), str(target["expr"])


def _grafana_expr(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    # Dashboard template variables ($symbol, ${job}) match everything here.
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", ".*", expr)


_COMPARISON = re.compile(
    r"^(?P<signal>.*\S)\s*(?:==|!=|>=|<=|>|<)\s*-?[0-9.]+(?:e-?[0-9]+)?$", re.S
)


def step_queries() -> None:
    """Every dashboard panel query and alert expression runs (a PromQL error fails the step);
    queries with no data are named. An alert is quiet on a healthy stack, so what must have
    data is its signal: the expression without its final comparison."""
    time.sleep(11)  # two scrapes after the last step, so the rates see its activity
    queries: list[tuple[str, str]] = []
    for board in sorted((ROOT / "deploy/grafana/dashboards").glob("*.json")):
        doc = json.loads(board.read_text())
        for title, expr in _panel_exprs(doc.get("panels", [])):
            queries.append((f"{board.stem}/{title}", _grafana_expr(expr)))
    alerts = ROOT / "deploy/prometheus/alerts.yml"
    if alerts.exists():
        for group in (yaml.safe_load(alerts.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                expr = " ".join(str(rule["expr"]).split())
                prom(expr)  # the whole rule evaluates
                found = _COMPARISON.match(expr)
                queries.append((f"alert/{name}", found.group("signal") if found else expr))
    if not queries:
        log("queries_skipped", reason="no dashboards or alert rules in deploy/ yet")
        return
    empty = [name for name, expr in queries if not prom(expr)]
    for name in empty:
        log("query_no_data", query=json.dumps(name))
    log("queries_evaluated", total=len(queries), with_data=len(queries) - len(empty),
        no_data=len(empty))  # fmt: skip


def _working(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in view["children"] if c["state"] in ("new", "pending_new", "working",
            "partially_filled", "pending_cancel", "pending_replace")]  # fmt: skip


def step_kill_switch() -> None:
    pid = submit(20_000, 1_200)
    wait_for(f"parent {pid} to have a working child", lambda: _working(parent(pid)), 120)
    killed = api("POST", "/v1/kill", {"who": "deploy-test", "why": "kill switch check"})
    if killed["state"] != "HALTED" or killed["cancels_sent"] < 1:
        raise CheckFailedError(f"POST /v1/kill answered {killed}")

    def all_cancelled() -> bool:
        views = api("GET", "/v1/parents", role="viewer")["parents"]
        return not any(_working(v) for v in views)

    wait_for("every working order cancelled", all_cancelled, 30)
    risk = api("GET", "/v1/risk", role="viewer")
    log("kill_switch", cancels_sent=killed["cancels_sent"], state=risk.get("state"),
        parent_state=parent(pid)["state"])  # fmt: skip
    api("POST", "/v1/resume", {"who": "deploy-test", "why": "check done"}, role="risk")


def step_crash_recovery() -> None:
    pid = submit(3_000, 240, algo="rl")
    wait_for(f"parent {pid} part-filled", lambda: 0 < parent(pid)["filled"] < 3_000, 120)
    before = parent(pid)
    t0 = time.monotonic()
    compose("kill", "-s", "SIGKILL", "service")
    compose("up", "-d", "--wait", "service")
    log("service_restarted", seconds=f"{time.monotonic() - t0:.1f}", filled_before=before["filled"])

    def done() -> dict[str, Any] | None:
        view = parent(pid)
        return view if view["state"] in ("completed", "cancelled", "failed") else None

    view = wait_for(f"parent {pid} to finish after the restart", done, 300)
    if view["state"] != "completed" or view["filled"] != view["quantity"]:
        raise CheckFailedError(f"parent {pid} after restart: {view['state']} {view['filled']}/3000")
    parents = api("GET", "/v1/parents", role="viewer")["parents"]
    ids = [c["cl_ord_id"] for v in parents for c in v["children"]]
    if len(ids) != len(set(ids)):
        raise CheckFailedError(
            f"duplicate ClOrdIDs: {sorted({i for i in ids if ids.count(i) > 1})}"
        )
    service_filled = sum(v["filled"] for v in parents)

    def venue_agrees() -> float | None:
        result = prom('sum(rlexec_venue_filled_shares_total{client="CLIENT"})')
        value = float(result[0]["value"][1]) if result else -1.0
        return value if value == service_filled else None

    venue_filled = wait_for(
        f"the venue's filled shares to equal {service_filled}", venue_agrees, 30
    )
    log("crash_recovered", id=pid, filled=view["filled"], child_orders=len(ids),
        service_filled=service_filled, venue_filled=int(venue_filled), duplicates=0)  # fmt: skip


STEPS: list[tuple[str, Callable[[], object]]] = [
    ("ready", step_ready),
    ("parent_fills", step_parent_fills),
    ("prometheus", step_prometheus),
    ("kill_switch", step_kill_switch),
    ("crash_recovery", step_crash_recovery),
    ("queries", step_queries),
]


def main() -> int:
    for name, step in STEPS:
        t0 = time.monotonic()
        try:
            step()
        except (CheckFailedError, subprocess.CalledProcessError) as exc:
            log("step_failed", step=name, seconds=f"{time.monotonic() - t0:.1f}")
            print(f"deploy test: {name}: {exc}", file=sys.stderr)
            return 1
        log("step_done", step=name, seconds=f"{time.monotonic() - t0:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
