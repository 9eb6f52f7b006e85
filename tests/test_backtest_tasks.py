"""A backtest cut into tasks gives the same episodes whatever the cut and whatever the order."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from rlexec.models.algo_registry import AlgoContext
from rlexec.models.backtest_tasks import LocalExecutor, merge, plan, run_task
from rlexec.simulator.config import ReplayConfig

WINDOW = "10:00-10:40"
TRAIN = "09:35-10:00"
NONE = AlgoContext()
"""twap, sal, random and rl (the shipped model) need nothing estimated."""


def _episodes(
    message: Path, chunk: int, algos: tuple[str, ...]
) -> dict[str, list[dict[str, object]]]:
    tasks = plan(message, WINDOW, TRAIN, algos, NONE, 6, seed=5, chunk=chunk, sizes="small")
    by_row, _ = merge(tasks, LocalExecutor().run(tasks, None))
    return {a: [asdict(r) for r in rs] for a, rs in by_row["default"].items()}


def test_the_cut_does_not_change_a_single_episode(aapl_message: Path) -> None:
    algos = ("twap", "random", "rl")
    whole = _episodes(aapl_message, 6, algos)
    assert [r["episode"] for r in whole["twap"]] == list(range(6))
    assert _episodes(aapl_message, 1, algos) == whole
    assert _episodes(aapl_message, 4, algos) == whole


def test_results_merge_in_plan_order_whatever_order_they_finish(aapl_message: Path) -> None:
    tasks = plan(
        aapl_message, WINDOW, TRAIN, ("twap", "sal"), NONE, 4, seed=5, chunk=2, sizes="small"
    )
    done = [run_task(t) for t in reversed(tasks)]
    by_row, fallbacks = merge(tasks, done)
    assert list(by_row["default"]) == ["twap", "sal"]
    assert [r.episode for r in by_row["default"]["sal"]] == [0, 1, 2, 3]
    assert fallbacks == {}


def test_rows_carry_their_own_simulator_settings(aapl_message: Path) -> None:
    rows = {"default": ReplayConfig(), "no_hidden": ReplayConfig(hidden_fills=False)}
    tasks = plan(
        aapl_message, WINDOW, TRAIN, ("twap",), NONE, 3, seed=5, chunk=2, rows=rows, sizes="small"
    )
    assert [(t.row, t.first, t.stop) for t in tasks] == [
        ("default", 0, 2), ("default", 2, 3), ("no_hidden", 0, 2), ("no_hidden", 2, 3),
    ]  # fmt: skip
    assert {t.config.hidden_fills for t in tasks if t.row == "no_hidden"} == {False}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"episodes": 0}, "episodes must be at least 1"),
        ({"chunk": 0}, "chunk must be at least 1"),
        ({"window": "10:00"}, "10:00"),
    ],
)
def test_a_bad_plan_fails_before_any_task_runs(
    aapl_message: Path, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"window": WINDOW, "episodes": 3, "chunk": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        plan(aapl_message, str(args["window"]), TRAIN, ("twap",), NONE, int(str(args["episodes"])),
             seed=1, chunk=int(str(args["chunk"])), sizes="small")  # fmt: skip


def test_the_signal_arm_runs_its_own_model_on_the_same_episodes(
    aapl_message: Path, tmp_path: Path
) -> None:
    from tests.signal_support import signal_model, signal_policy

    arm = signal_policy(tmp_path / "arm.onnx", signal_model(tmp_path / "signal.onnx"))
    tasks = plan(aapl_message, WINDOW, TRAIN, ("rl", "rl_signal"), NONE, 3, seed=5, chunk=2,
                 sizes="small", arm_models={"rl_signal": arm})  # fmt: skip
    assert {t.context.model for t in tasks if t.algo == "rl"} == {None}  # the shipped model
    assert {t.context.model for t in tasks if t.algo == "rl_signal"} == {arm}
    by_row, _ = merge(tasks, LocalExecutor().run(tasks, None))
    rl, arm_results = by_row["default"]["rl"], by_row["default"]["rl_signal"]
    assert [(r.episode, r.side, r.quantity) for r in rl] == [
        (r.episode, r.side, r.quantity) for r in arm_results
    ]
    assert [r.is_bps for r in rl] != [r.is_bps for r in arm_results]  # another policy traded


def test_the_signal_arm_and_its_model_go_together(aapl_message: Path, tmp_path: Path) -> None:
    from rlexec.models.backtest import backtest

    with pytest.raises(ValueError, match="'rl_signal' and an ablation model go together"):
        backtest(aapl_message, tmp_path, ("twap", "rl_signal"), window=WINDOW, train_window=TRAIN)
    with pytest.raises(ValueError, match="go together"):
        backtest(aapl_message, tmp_path, ("twap",), window=WINDOW, train_window=TRAIN,
                 ablation_model=tmp_path / "arm.onnx")  # fmt: skip
