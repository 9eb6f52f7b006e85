"""The committed Grafana JSON is exactly what `deploy/grafana/generate.py` produces, and it is
wired to the provisioned datasource."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from deploy.grafana import generate
from deploy.grafana.panels import DASHBOARDS
from tests.deploy_support import ROOT

GRAFANA = ROOT / "deploy" / "grafana"


def test_regeneration_reproduces_the_committed_json_byte_for_byte() -> None:
    rendered = generate.rendered()
    committed = sorted(generate.OUT.glob("*.json"))
    assert sorted(rendered) == committed, "a dashboard file is missing or left over"
    for path, text in rendered.items():
        assert path.read_bytes() == text.encode("utf-8"), f"{path.name}: regenerate it"
    assert generate.main(["--check"]) == 0


def test_check_mode_names_an_out_of_date_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(generate, "OUT", tmp_path)
    (tmp_path / "risk.json").write_text("{}\n", encoding="utf-8")
    assert generate.main(["--check"]) == 1
    assert "risk.json: out of date" in capsys.readouterr().err
    assert (tmp_path / "risk.json").read_text(encoding="utf-8") == "{}\n"  # --check writes nothing


def test_the_issue_s_dashboards_and_panels_are_there() -> None:
    titles = {d.title for d in DASHBOARDS}
    assert titles == {
        "rlexec / Execution", "rlexec / Latency", "rlexec / Risk",
        "rlexec / Sessions & venue", "rlexec / Model",
    }  # fmt: skip
    kinds = {(d.title, p.kind) for d in DASHBOARDS for r in d.rows for p in r.panels}
    assert ("rlexec / Latency", "heatmap") in kinds


def test_panels_have_unique_ids_ref_ids_and_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text("utf-8")
    )["datasources"]
    uid = provisioned[0]["uid"]
    for path in generate.OUT.glob("*.json"):
        board = json.loads(path.read_text("utf-8"))
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)) and 0 not in ids, path.name
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == uid, (path.name, panel["title"])
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(refs) == len(set(refs)) and all(refs), (path.name, panel["title"])
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
            assert isinstance(panel["options"], dict)


def test_the_dashboard_provider_points_where_compose_mounts_the_json() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "rlexec.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
