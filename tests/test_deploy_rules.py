"""The alert rules pass promtool, each alert's unit tests really test it, and every metric
they (and the dashboards) read is one the code exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from deploy.grafana.queries import alert_queries, panel_queries
from rlexec.gateway.metrics import GatewayMetrics
from rlexec.risk.monitors import MonitorConfig, MonitorSet
from rlexec.risk.overlay import RiskOverlay
from rlexec.risk.testing import ManualClock, limits
from rlexec.service.metrics import ServiceMetrics
from rlexec.simulator.venue_metrics import VenueMetrics
from tests.deploy_support import ALERT_TESTS, ALERTS, PROMETHEUS_DIR, metric_names, run_promtool

REQUIRED_ALERTS = {
    "RlexecServiceDown", "RlexecVenueDown", "RlexecFixSessionDown", "RlexecMarketDataStale",
    "RlexecKillSwitchEngaged", "RlexecRiskLimitNear", "RlexecTickToOrderSlow",
    "RlexecFeatureDriftHigh", "RlexecStateStoreBacklog", "RlexecStateStoreErrors",
}  # fmt: skip
ALERT_NAMES = [name for name, _, _ in alert_queries()]


def test_rules_pass_promtool_check() -> None:
    result = run_promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in result.stdout


def test_rules_pass_their_promtool_unit_tests() -> None:
    result = run_promtool("test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_issue_s_alerts_are_all_there() -> None:
    assert set(ALERT_NAMES) >= REQUIRED_ALERTS
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES))


def _mutated(tmp_path: Path, alert: str, change: str) -> Path:
    """A copy of the rules and their tests where `alert` is dropped or always true."""
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    signal = {name: sig for name, _, sig in alert_queries()}[alert]
    for group in doc["groups"]:
        rules = []
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                if change == "drop":
                    continue
                rule = {**rule, "expr": signal}  # fires on every series it sees
            rules.append(rule)
        group["rules"] = rules
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    shutil.copy(ALERT_TESTS, tmp_path / "alerts.test.yml")
    return tmp_path / "alerts.test.yml"


@pytest.mark.parametrize("alert", ALERT_NAMES)
def test_each_alert_has_a_case_where_it_fires(tmp_path: Path, alert: str) -> None:
    result = run_promtool("test", "rules", str(_mutated(tmp_path, alert, "drop")))
    assert result.returncode != 0, f"no promtool test expects {alert} to fire"
    assert f"alertname: {alert}," in result.stdout + result.stderr


@pytest.mark.parametrize("alert", ALERT_NAMES)
def test_each_alert_has_a_case_where_it_stays_quiet(tmp_path: Path, alert: str) -> None:
    result = run_promtool("test", "rules", str(_mutated(tmp_path, alert, "always")))
    assert result.returncode != 0, f"no promtool test expects {alert} to stay quiet"
    assert f"alertname: {alert}," in result.stdout + result.stderr


def test_an_alert_without_a_comparison_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "alerts.yml"
    bad.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: up\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ValueError, match=r"alerts\.yml: alert Broken: expr must end in a comparison"
    ):
        alert_queries(bad)


def test_prometheus_configs_pass_promtool_check(tmp_path: Path) -> None:
    """The compose stack's config (once it exists) and a config loading our rules, as the
    live test uses it."""
    ours = tmp_path / "prometheus.yml"
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    ours.write_text(
        "global: {scrape_interval: 5s, evaluation_interval: 5s}\n"
        "rule_files: [alerts.yml]\n"
        "scrape_configs:\n"
        "  - job_name: rlexec\n    static_configs: [{targets: ['127.0.0.1:8080']}]\n"
        "  - job_name: venue\n    static_configs: [{targets: ['127.0.0.1:9100']}]\n",
        encoding="utf-8",
    )
    configs = [ours]
    compose = PROMETHEUS_DIR / "prometheus.yml"
    if compose.exists():
        configs.append(compose)
    for config in configs:
        result = run_promtool("check", "config", "--syntax-only", str(config))
        assert result.returncode == 0, f"{config}: {result.stdout}{result.stderr}"


def test_every_panel_expression_parses(tmp_path: Path) -> None:
    """promtool parses every expression of a rule file: one recording rule per panel query."""
    queries = panel_queries()
    rules = [{"record": f"panel:q{i}", "expr": expr} for i, (_, _, expr) in enumerate(queries)]
    path = tmp_path / "panels.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}), "utf-8")
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def _exported() -> set[str]:
    """Every sample name the metric modules export, from their real registries."""
    service, gateway, venue, risk, monitors = (CollectorRegistry() for _ in range(5))
    ServiceMetrics(service)
    GatewayMetrics(gateway).for_session("FIX.4.4:CLIENT->VENUE")
    VenueMetrics(venue)
    overlay = RiskOverlay(limits(), clock=ManualClock(), registry=risk, initialise=True)
    MonitorSet(MonitorConfig(), ["AAPL"], overlay=overlay, registry=monitors)
    names: set[str] = set()
    for registry in (service, gateway, venue, risk, monitors):
        for line in generate_latest(registry).decode().splitlines():
            if line.startswith("# TYPE "):  # families with no series yet have only this line
                _, _, name, kind = line.split()
                if kind == "counter":
                    names.add(name if name.endswith("_total") else name + "_total")
                elif kind == "histogram":
                    names.update(name + s for s in ("_bucket", "_sum", "_count"))
                else:
                    names.add(name)
            elif not line.startswith("#"):
                names.add(line.split("{")[0].split()[0])
    return names


def test_dashboards_and_alerts_read_only_exported_metrics() -> None:
    exported = _exported()
    assert "rlexec_service_tick_to_order_seconds_bucket" in exported
    assert "rlexec_risk_denials_total" in exported
    used = [(f"{d} / {p}", expr) for d, p, expr in panel_queries()]
    used += [(f"alert {name}", expr) for name, expr, _ in alert_queries()]
    unknown = [(where, name) for where, expr in used for name in metric_names(expr) - exported]
    assert unknown == []
    families = {name.split("_")[1] for _, expr in used for name in metric_names(expr)}
    assert families == {"service", "fix", "risk", "venue"}
