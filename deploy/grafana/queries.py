"""Every PromQL expression the deployment relies on, for tests that evaluate them for real.

    panel_queries()  -> [(dashboard title, panel title, expr), ...]
    alert_queries()  -> [(alert name, expr, signal), ...]

An alert's `signal` is its expression without the final comparison (`up{job="rlexec"}` for
`up{job="rlexec"} == 0`): on a healthy stack the alert is quiet, but its signal must still
return data, or the alert is watching a series that does not exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from deploy.grafana.panels import DASHBOARDS

ALERTS = Path(__file__).resolve().parent.parent / "prometheus" / "alerts.yml"
_COMPARISON = re.compile(
    r"^(?P<signal>.*\S)\s*(?:==|!=|>=|<=|>|<)\s*(?P<threshold>-?[0-9.]+(?:e-?[0-9]+)?)$", re.S
)


def panel_queries() -> list[tuple[str, str, str]]:
    return [
        (dashboard.title, panel.title, query.expr)
        for dashboard in DASHBOARDS
        for row in dashboard.rows
        for panel in row.panels
        for query in panel.queries
    ]


def alert_queries(path: Path = ALERTS) -> list[tuple[str, str, str]]:
    """(alert, expr, signal) for every alerting rule in `path`."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            expr = " ".join(str(rule["expr"]).split())
            found = _COMPARISON.match(expr)
            if found is None:
                raise ValueError(
                    f"{path}: alert {rule['alert']}: expr must end in a comparison with a number, "
                    f"got {expr!r}"
                )
            out.append((str(rule["alert"]), expr, found.group("signal")))
    return out
