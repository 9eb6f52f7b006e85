"""Scale-out on a real Ray cluster (issue 15): results equal the local run's, a lost worker
node is survived, a sweep ships a loadable model.

The cluster (a head and a worker node) runs inside a private network namespace whose only
interface is `lo` (tests/scale_scenarios.py, started once for the module); the local
references run here, in this process, without Ray.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import onnx
import pytest

from bench.ray_cluster import in_private_network
from rlexec.cli.main import main
from rlexec.models.contract import META_EVALUATION, META_TRAINING
from rlexec.models.policy import OnnxPolicy
from tests import scale_scenarios as sc
from tests.scale_support import two_days
from tests.signal_support import signal_model, signal_policy

pytestmark = [pytest.mark.slow, pytest.mark.train]
HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scale_scenarios.py"


@pytest.fixture(scope="module")
def files(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return [str(p) for p in two_days(data_dir, tmp_path_factory.mktemp("days"))]


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A policy that takes a price-move signal found beside it (not among the artifacts):
    the workers must get both files, laid out the same way."""
    folder = tmp_path_factory.mktemp("policy")
    return signal_policy(folder / "policy.onnx", signal_model(folder / "my-signal.onnx"))


@pytest.fixture(scope="module")
def ran(
    files: list[str], policy: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("ray")
    stdout = in_private_network([str(SCENARIOS), str(out), *files, str(policy)], timeout=420)
    return out, json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def local(files: list[str], policy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local")
    assert main(sc.backtest_args(files, str(policy), out / "multi")) == 0
    assert main(["backtest", "--data", *files, "--model", str(policy), *sc.SMALL,
                 "--out", str(out / "small")]) == 0  # fmt: skip
    assert main([*sc.SENSITIVITY, files[0], "--out", str(out / "sensitivity")]) == 0
    return out


def same_outputs(a: Path, b: Path) -> list[str]:
    """Every JSON and Markdown output, compared byte for byte; returns the files compared."""
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.suffix in (".json", ".md"))
    assert names == sorted(
        str(p.relative_to(b)) for p in b.rglob("*") if p.suffix in (".json", ".md")
    )
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    return names


def test_a_local_ray_started_by_the_command_gives_the_local_result(
    ran: tuple[Path, dict[str, Any]], local: Path, policy: Path
) -> None:
    out, report = ran
    assert "overall/results.json" in same_outputs(local / "small", out / "local_ray")
    stats = report["local_ray"]
    assert stats["tasks"] == 2 * 3 * 3 and stats["episodes"] == 36 and stats["files"] == 2
    assert stats["retried"] == 0
    # The data files were read there; the policy went with the signal beside it.
    assert stats["bytes_shipped"] == sum(p.stat().st_size for p in policy.parent.iterdir())
    doc = json.loads((out / "local_ray" / "results.json").read_text())
    sources = [f["vwap_profile"]["source"] for f in doc["meta"]["files"]]  # prepared there
    assert "AMZN" in sources[0] and "AMZN" not in sources[1], sources  # 06-22 has no AMZN


def test_a_two_file_backtest_on_the_cluster_equals_the_local_one(
    ran: tuple[Path, dict[str, Any]], local: Path, policy: Path
) -> None:
    out, report = ran
    compared = same_outputs(local / "multi", out / "cluster")
    assert {"results.json", "episodes.json", "overall/results.json"} <= set(compared)
    doc = json.loads((out / "cluster" / "results.json").read_text())
    assert set(doc["by_ticker"]) == {"AAPL"} and set(doc["by_day"]) == {"2012-06-21", "2012-06-22"}
    assert doc["overall"]["algos"]["rl"]["n"] == 2 * sc.EPISODES
    assert set(doc["overall"]["algos"]["rl"]["vs"]) == {"twap", "vwap", "random"}
    stats = report["cluster_backtest"]
    assert stats["tasks"] == 2 * 4 * 3 and stats["files"] == 2
    # Each file and the model were shipped once: the two files' numpy columns and the model.
    model_bytes = sum(p.stat().st_size for p in policy.parent.iterdir())
    assert model_bytes < stats["bytes_shipped"] < 20_000_000
    assert sum(stats["nodes"].values()) == stats["tasks"]
    assert set(stats["nodes"]) <= {report["cluster"]["head"], *report["cluster"]["workers"]}


def test_the_sensitivity_grid_on_the_cluster_equals_the_local_one(
    ran: tuple[Path, dict[str, Any]], local: Path
) -> None:
    out, report = ran
    assert "sensitivity.json" in same_outputs(local / "sensitivity", out / "sensitivity")
    rows = json.loads((out / "sensitivity" / "sensitivity.json").read_text())["rows"]
    assert len(rows) >= 4 and report["cluster_sensitivity"]["tasks"] == len(rows) * 2


def test_killing_the_worker_node_mid_run_still_completes_with_identical_results(
    ran: tuple[Path, dict[str, Any]], local: Path
) -> None:
    out, report = ran
    killed = report["killed_run"]
    assert killed.get("processes", 0) > 0, f"the worker node was never killed: {killed}"
    stats = killed["stats"]
    assert killed["episodes_done"] < stats["episodes"]  # mid-run
    assert stats["board_lost"] is None  # per-episode progress survived: it lives by the driver
    assert stats["retried"] >= 1  # the attempt lost with the node ran again
    assert stats["tasks"] == 2 * 4 * 2  # chunks of 6: another cut than the local run's
    same_outputs(local / "multi", out / "killed")


def test_a_two_trial_sweep_exports_a_model_the_runtime_loads(
    ran: tuple[Path, dict[str, Any]],
) -> None:
    out, report = ran
    sweep = report["sweep"]
    assert sweep["trials"] == 2
    table_path = out / "sweep" / "sweep.json"
    table = json.loads(table_path.read_text())
    assert [t["learning_rate"] for t in table["trials"]] == [3e-4, 1e-3]
    assert table["plan"]["validation_window"] == "11:25-13:00"  # the evaluation plan's
    scores = [t["validation_rl_minus_twap_risk_adjusted_bps"] for t in table["trials"]]
    best = table["trials"][scores.index(min(scores))]
    assert sweep["best"]["trial"] == best["trial"]
    assert (out / "sweep" / "sweep.csv").read_text().count("\n") == 3

    OnnxPolicy(Path(sweep["model"]))  # the runtime accepts it: contract, warm-up inference
    meta = {p.key: p.value for p in onnx.load(sweep["model"]).metadata_props}
    record = json.loads(meta[META_EVALUATION])["sweep"]
    assert record["table_sha256"] == hashlib.sha256(table_path.read_bytes()).hexdigest()
    assert record["params"]["learning_rate"] == best["learning_rate"]
    assert record["validation"]["validation_rl_minus_twap_risk_adjusted_bps"] == min(scores)
    assert record["trials"] == 2
    training = json.loads(meta[META_TRAINING])
    assert training["settings"]["window"] == "09:35-11:25"
    assert training["settings"]["learning_rate"] == best["learning_rate"]
    assert training["settings"]["interval_s"] == 30.0
