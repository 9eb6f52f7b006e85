"""Every dashboard query and every alert's signal returns data from a real Prometheus that
scrapes a live `rlexec serve` and `rlexec venue` (loopback only; everything started here is
stopped here)."""

from __future__ import annotations

import calendar
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.grafana.queries import alert_queries, panel_queries
from tests.deploy_support import ALERTS, ROOT
from tests.service_support import Venue, free_port, start_venue

pytestmark = pytest.mark.slow

SCRAPED_FOR_S = 20.0


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode())


def _text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


@pytest.fixture(scope="module")
def prometheus_url(venue: Venue, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "the prometheus server is missing: scripts/ensure-promtool.sh installs it"
    work = tmp_path_factory.mktemp("prometheus")
    api, prom = free_port(), free_port()
    shutil.copy(ALERTS, work / "alerts.yml")
    (work / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [alerts.yml]\n"
        "scrape_configs:\n"
        f"  - job_name: rlexec\n    static_configs: [{{targets: ['127.0.0.1:{api}']}}]\n"
        f"  - job_name: venue\n    static_configs: [{{targets: ['127.0.0.1:{venue.metrics_port}']}}]\n",
        encoding="utf-8",
    )
    serve = [
        sys.executable, "-m", "rlexec.cli.main", "serve", "--venue", f"127.0.0.1:{venue.port}",
        "--clock", "venue", "--symbols", "AAPL", "--api", f"127.0.0.1:{api}",
        "--parent", "buy 20000 AAPL 900s rl", "--parent", "buy 20000 AAPL 900s twap",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    service = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    log = (work / "prometheus.log").open("w")
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=work,
    )
    url = f"http://127.0.0.1:{prom}"
    try:
        deadline = time.monotonic() + 60
        while (
            "rlexec_service_fills_total 0.0" in (m := _text(f"http://127.0.0.1:{api}/metrics"))
            or not m
        ):
            assert service.poll() is None, "rlexec serve exited"
            assert server.poll() is None, (work / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the service never filled an order"
            time.sleep(0.2)
        # a request without a token, as a client with a wrong one makes: RlexecApiRefusals's
        # signal (refusals by status) has a series to read
        assert _status(f"http://127.0.0.1:{api}/v1/parents") == 401
        time.sleep(SCRAPED_FOR_S)
        yield url
    finally:
        _stop(server)
        _stop(service)
        log.close()


def _query(url: str, expr: str) -> list[Any]:
    reply = _get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert reply["status"] == "success", reply
    return list(reply["data"]["result"])


def test_both_targets_are_up_and_every_rule_loaded(prometheus_url: str) -> None:
    targets = _get(f"{prometheus_url}/api/v1/targets")["data"]["activeTargets"]
    assert sorted((t["labels"]["job"], t["health"]) for t in targets) == [
        ("rlexec", "up"), ("venue", "up"),
    ]  # fmt: skip
    rules = [
        r for g in _get(f"{prometheus_url}/api/v1/rules")["data"]["groups"] for r in g["rules"]
    ]
    assert sorted(r["name"] for r in rules) == sorted(name for name, _, _ in alert_queries())
    assert all(r["health"] == "ok" for r in rules), [r for r in rules if r["health"] != "ok"]


def test_every_panel_query_returns_data(prometheus_url: str) -> None:
    empty = [(d, p, e) for d, p, e in panel_queries() if not _query(prometheus_url, e)]
    assert empty == []


def test_every_alert_signal_returns_data(prometheus_url: str) -> None:
    empty = [(a, s) for a, _, s in alert_queries() if not _query(prometheus_url, s)]
    assert empty == []


BLIP_S = 5.0
"""An alert pending for less than this is a blip, not an availability problem: on a loaded
machine the venue process can stall for a quarter of a second, which at the venue's 20x speed
is 5 s of venue time without market data, one stale scrape. Every rule's `for:` (30 s and
more) exists to keep such a blip from firing; this stack runs for less than any of them, so
pending alerts are what the test can see, and one that lasts `BLIP_S` counts."""


def _active_for_s(alert: dict[str, Any], now: float) -> float:
    active_at = calendar.timegm(time.strptime(alert["activeAt"][:19], "%Y-%m-%dT%H:%M:%S"))
    return now - active_at


def test_the_healthy_stack_raises_no_availability_alert(prometheus_url: str) -> None:
    now = time.time()
    alerts = _get(f"{prometheus_url}/api/v1/alerts")["data"]["alerts"]
    raised = {
        a["labels"]["alertname"]
        for a in alerts
        if a["state"] == "firing" or _active_for_s(a, now) >= BLIP_S
    }
    assert not raised & {"RlexecServiceDown", "RlexecVenueDown", "RlexecFixSessionDown",
                         "RlexecKillSwitchEngaged", "RlexecMarketDataStale"}, alerts  # fmt: skip
