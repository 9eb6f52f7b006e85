"""The pre-registered evaluation plan, the guard on test windows and the test-evaluation log."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from rlexec.models.backtest import backtest
from rlexec.models.evaluation import Bootstrap
from rlexec.models.objective import RISK_AVERSION
from rlexec.models.protocol import (
    LOG_PATH,
    PLAN_PATH,
    Guard,
    RefusedTestDataError,
    load_plan,
    read_log,
)
from rlexec.models.train import TrainSettings


def test_the_committed_plan_is_what_the_code_runs() -> None:
    plan = load_plan()
    assert plan.risk_aversion == RISK_AVERSION == plan.training["risk_aversion"]
    assert {
        k: v for k, v in asdict(Bootstrap()).items() if k != "max_batch_values"
    } == plan.bootstrap
    assert plan.bootstrap["resamples"] >= 2_000
    assert plan.episodes >= 600 and plan.sizes == "large"
    settings = TrainSettings(**{**plan.training, "data": "x"})
    assert settings.timesteps == 900_000 and settings.sizes == plan.sizes
    assert set(plan.test) == {"time_split", "ticker_split"}
    seeds = [s.seed for s in plan.test.values()]
    retired = {101, 202, 943148639, 333722673}  # judged earlier models / a smoke test saw them
    assert not retired & set(seeds)
    v = plan.validation
    assert plan.test_split(v.data, v.window) is None
    assert plan.test_split(plan.test["time_split"].data, "14:00-14:30") is plan.test["time_split"]
    # Another level of the same ticker and day is the same test data.
    amzn5 = "AMZN_2012-06-21_34200000_57600000_message_5.csv.gz"
    assert plan.test_split(amzn5, "12:30-13:30") is plan.test["ticker_split"]
    assert plan.test_split(amzn5, "13:00-15:55") is None


def test_backtest_and_cli_default_to_the_validation_window() -> None:
    import inspect

    from rlexec.cli.backtest import add_arguments

    v = load_plan().validation
    params = inspect.signature(backtest).parameters
    assert (params["window"].default, params["train_window"].default) == (v.window, v.stats_window)
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--out", "x"])
    assert args.window is None and args.stats_window is None  # → the plan's validation windows


def write_plan(tmp_path: Path, **changes: Any) -> Path:
    raw = json.loads(PLAN_PATH.read_text())
    for key, value in changes.items():
        node = raw
        *path, last = key.split("__")
        for part in path:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    path_ = tmp_path / "plan.json"
    path_.write_text(json.dumps(raw))
    return path_


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"episodes": 300}, "field 'episodes' is 300"),
        ({"risk_aversion_per_bps": None}, "missing field 'risk_aversion_per_bps'"),
        ({"test__time_split__seed": "943"}, "field 'test.time_split.seed' has the wrong type"),
        ({"test__ticker_split__window": "9:35"}, "field 'test.ticker_split.window'"),
        ({"validation__window": "13:30-15:00"}, "validation window overlaps a test split"),
        ({"test": {}}, "field 'test' names no split"),
        ({"ablation": None}, "algo 'rl_signal' and field 'ablation' go together"),
        ({"ablation__signal": 3}, "field 'ablation.signal' has the wrong type"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_plan(write_plan(tmp_path, **changes))
    (tmp_path / "broken.json").write_text('{"episodes": 600,\n oops}')
    with pytest.raises(ValueError, match="not JSON \\(line 2"):
        load_plan(tmp_path / "broken.json")


def test_a_test_window_is_refused_then_logged_once_per_run(
    aapl_message: Path, tmp_path: Path
) -> None:
    plan = load_plan()
    log = tmp_path / "log.jsonl"
    committed = LOG_PATH.read_bytes()
    run: dict[str, Any] = {"algos": ("twap", "rl"), "episodes": 2, "seed": 3, "sizes": "small",
                           "train_window": "09:35-13:00"}  # fmt: skip
    with pytest.raises(RefusedTestDataError, match="overlaps the test split 'time_split'"):
        backtest(aapl_message, tmp_path / "refused", window="13:30-14:30",
                 guard=Guard(plan, log), **run)  # fmt: skip
    assert not log.exists() and not (tmp_path / "refused").exists()
    backtest(aapl_message, tmp_path / "val", window="11:25-13:00", guard=Guard(plan, log), **run)
    assert read_log(log) == []  # validation: nothing to log
    for i in range(2):
        backtest(aapl_message, tmp_path / f"test{i}", window="13:30-14:30",
                 guard=Guard(plan, log, allow_test=True), **run)  # fmt: skip
        assert len(read_log(log)) == i + 1
    entry = read_log(log)[-1]
    assert entry["split"] == "time_split" and entry["command"] == "backtest"
    assert entry["plan_sha256"] == plan.sha256 and entry["seeds"]["episodes"] == 3
    assert entry["rows"] == ["default"] and len(entry["model_sha256"]) == 64
    assert entry["utc"].endswith("Z") and entry["git_commit"] is not None
    doc = json.loads((tmp_path / "test1" / "results.json").read_text())
    assert doc["meta"]["test_split"] == "time_split"
    assert LOG_PATH.read_bytes() == committed  # tests never write the committed log


def test_the_cli_refuses_a_test_window_in_one_line(
    aapl_message: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlexec.cli.main import main

    code = main(["backtest", "--data", str(aapl_message), "--window", "13:00-15:55",
                 "--stats-window", "09:35-13:00", "--out", str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "test split 'time_split'" in err and "--allow-test" in err
