"""What scaling out rests on, checked without Ray: a task gives the same results with its
data handed in as read from disk, multi-file runs keep each file's episodes their own and
pass the evaluation plan's guard, sweeps refuse a validation window touching training or
test time, and the local path never imports Ray."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rlexec.cli.main import main
from rlexec.market.errors import DataError
from rlexec.models.algo_registry import AlgoContext
from rlexec.models.backtest_tasks import plan, run_task
from rlexec.models.multi import find_files, multi_backtest
from rlexec.models.validation import ValidationPlan, check_windows
from rlexec.simulator.data import ReplayData, ReplayFile
from tests.conftest import AAPL_1, AMZN_1, AMZN_5
from tests.scale_support import STATS_WINDOW, WINDOW, two_days

pytestmark = pytest.mark.train
REPO = Path(__file__).resolve().parent.parent
PLACE = ["--window", WINDOW, "--stats-window", STATS_WINDOW, "--sizes", "small"]


def test_a_task_given_its_data_never_reads_its_path(aapl_message: Path, tmp_path: Path) -> None:
    (task,) = plan(aapl_message, WINDOW, STATS_WINDOW, ["twap"], AlgoContext(), 3, 5, chunk=3,
                   sizes="small")  # fmt: skip
    expected = run_task(task)
    shipped = ReplayFile.read(aapl_message)
    assert shipped.nbytes == sum(int(c.nbytes) for c in shipped.arrays)
    elsewhere = tmp_path / "not-here" / aapl_message.name  # as on a node without the file
    got = run_task(replace(task, data=str(elsewhere)), shipped.replay_data())
    assert got.results == expected.results


def test_replay_file_builds_the_same_replay_as_loading(aapl_message: Path) -> None:
    a, b = ReplayData.load(aapl_message), ReplayFile.read(aapl_message).replay_data()
    for name in ("ts_ns", "price", "size", "book", "start_ns", "end_ns", "symbol", "date"):
        assert getattr(a, name) == getattr(b, name), name


def test_a_folder_gives_one_file_per_ticker_day_the_deepest(data_dir: Path) -> None:
    files, skipped = find_files([data_dir])
    assert [f.name for f in files] == [AAPL_1, AMZN_5]
    assert skipped == [f"{AMZN_1}: left out, {AMZN_5} is the same ticker-day with 5 levels"]
    again, _ = find_files([data_dir / AMZN_5, data_dir / AMZN_1, data_dir / AMZN_5])
    assert [f.name for f in again] == [AMZN_5]


def test_bad_data_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no LOBSTER message files"):
        find_files([tmp_path])
    with pytest.raises(DataError, match="no such file"):
        find_files([tmp_path / "MSFT_2012-06-21_34200000_57600000_message_1.csv"])


def test_adding_a_file_leaves_the_others_episodes_alone(data_dir: Path, tmp_path: Path) -> None:
    first, second = two_days(data_dir, tmp_path / "days")

    def run(files: list[Path], out: str) -> dict[str, Any]:
        return multi_backtest(files, tmp_path / out, ["twap", "rl"], None, 4, 9, WINDOW,
                              STATS_WINDOW, chunk=3, sizes="small")  # fmt: skip

    one, two = run([first], "one"), run([first, second], "two")
    assert one["by_file"][AAPL_1] == two["by_file"][AAPL_1]
    assert set(two["by_day"]) == {"2012-06-21", "2012-06-22"}
    assert two["overall"]["algos"]["rl"]["n"] == 8
    episodes = json.loads((tmp_path / "two" / "episodes.json").read_text())
    rl = [(e["data"], e["episode"]) for e in episodes if e["algo"] == "rl"]
    assert len({n for _, n in rl}) == 8  # numbered run-wide: each pairs only with itself
    assert (tmp_path / "two" / "overall" / "is_distribution.png").stat().st_size > 0
    assert "| day 2012-06-22 | 4 |" in (tmp_path / "two" / "report.md").read_text()


def test_a_file_on_a_test_split_is_refused_like_a_single_backtest(
    data_dir: Path, aapl_message: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="overlaps the test split 'ticker_split'"):
        multi_backtest([aapl_message, data_dir / AMZN_1], tmp_path / "out", ["twap"], None, 2, 9,
                       WINDOW, STATS_WINDOW, sizes="small")  # fmt: skip
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        (("09:35-11:30", "11:25-13:00"), "overlaps the training window"),
        (("09:35-11:25", "11:25-13:30"), "overlaps the test window 13:00-15:55"),
        (("09:35-13:30", "08:00-09:00"), "training window 09:35-13:30 overlaps"),
    ],
)
def test_validation_may_not_touch_training_or_test_time(
    windows: tuple[str, str], message: str, aapl_message: Path
) -> None:
    plan = ValidationPlan.from_evaluation_plan(aapl_message)
    assert plan.test_windows == ("13:00-15:55",)  # AAPL's split; AMZN's is another ticker
    with pytest.raises(ValueError, match=message):
        check_windows(replace(plan, train_window=windows[0], validation_window=windows[1]))
    check_windows(plan)  # the plan's own: 09:35-11:25 | 11:25-13:00


def test_the_sweep_command_refuses_a_window_on_test_time_before_starting_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sweep", "--validation-window", "12:40-13:20", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "validation window 12:40-13:20 overlaps the test window 13:00-15:55" in err
    assert not Path("unused").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chunk", "0"], "--chunk must be at least 1"),
        (["--seeds", "1,x"], "--seeds: '1,x' is not a comma-separated list"),
    ],
)
def test_bad_arguments_get_one_line(
    args: list[str], message: str, aapl_message: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = "sweep" if args[0] == "--seeds" else "backtest"
    base = ["--data", str(aapl_message), "--out", "unused"]
    assert main([command, *base, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_local_path_never_imports_ray(aapl_message: Path, tmp_path: Path) -> None:
    argv = ["backtest", "--data", str(aapl_message), "--algos", "twap,rl", "--episodes", "2",
            *PLACE, "--out", str(tmp_path / "bt")]  # fmt: skip
    code = (
        "import sys\n"
        "from rlexec.cli.main import main\n"
        f"assert main({argv!r}) == 0\n"
        "assert 'ray' not in sys.modules, 'the local backtest imported ray'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          timeout=180, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "bt" / "results.json").read_text())["algos"]["rl"]["n"] == 2
