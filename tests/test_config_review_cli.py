"""Bad command-line input is one clear line and exit 2, before any work starts (config review)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlexec.service.config import ServiceConfigError, load_service_settings
from tests.lobster_files import write_pair


def rlexec(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlexec.cli.main", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def one_clear_line(out: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("flag", "value"), [("--tick-size", "0"), ("--tick-size", "-5"), ("--levels", "0")]
)
def test_replay_refuses_a_tick_size_or_depth_below_one(
    tmp_path: Path, flag: str, value: str
) -> None:
    data = write_pair(tmp_path)
    one_clear_line(rlexec("replay", "--data", str(data), flag, value), flag, value)


def test_backtest_refuses_a_missing_or_broken_model_before_any_episode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "nope.onnx"
    # Before: 80 s of calibration, then "internal error: FileNotFoundError", exit 70.
    one_clear_line(
        rlexec("backtest", "--out", str(out), "--episodes", "2", "--model", str(missing)),
        "--model", str(missing), "no such file",
    )  # fmt: skip
    one_clear_line(
        rlexec("backtest", "--out", str(out), "--episodes", "2", "--algos", "twap",
               "--ablation-model", str(missing)),
        "--ablation-model", str(missing),
    )  # fmt: skip
    broken = tmp_path / "broken.onnx"
    broken.write_text("not a model\n", encoding="utf-8")
    one_clear_line(
        rlexec("backtest", "--out", str(out), "--episodes", "2", "--model", str(broken)),
        str(broken), "not a loadable ONNX model",
    )  # fmt: skip
    assert not out.exists()


@pytest.mark.parametrize("command", ["backtest", "train"])
def test_an_output_folder_that_is_a_file_is_refused_up_front(tmp_path: Path, command: str) -> None:
    a_file = tmp_path / "results"
    a_file.write_text("keep me\n", encoding="utf-8")
    extra = (
        ["--algos", "twap", "--episodes", "2"] if command == "backtest" else ["--timesteps", "8"]
    )
    one_clear_line(rlexec(command, "--out", str(a_file), *extra), "--out", "not a folder")
    one_clear_line(
        rlexec(command, "--out", str(a_file / "sub"), *extra), "--out", "no folder can be made"
    )
    assert a_file.read_text(encoding="utf-8") == "keep me\n"


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--algos", "twap,nope"], ["--algos", "'nope'"]),
        (["--algos", " , "], ["--algos", "at least one"]),
        (["--quantity", "2000000000"], ["--quantity", "1000000000"]),
        (["--horizon", "0.5"], ["--horizon", "greater than or equal to 1"]),
        (["--audit-log", "/nonexistent-folder/audit.jsonl"], ["--audit-log", "does not exist"]),
        (["--speed", "nan"], ["--speed", "nan"]),
        (["--timeout", "-1"], ["--timeout"]),
    ],
)
def test_demo_refuses_a_bad_flag_before_starting_anything(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    # Before: a pydantic dump and exit 70, after the venue had started (and, for a bad algo,
    # after the 180 s market warm-up).
    data = write_pair(tmp_path, symbol="AAPL")
    line = one_clear_line(rlexec("demo", "--data", str(data), *args, timeout=30), *needles)
    assert "PosixPath" not in line


def test_an_unknown_key_in_the_file_gets_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "rlexec.toml"
    config.write_text("[service]\nheartbeat = 10\n", encoding="utf-8")
    line = one_clear_line(rlexec("serve", "--config", str(config)), str(config))
    assert line.endswith("heartbeat (from " + str(config) + "): unknown key; did you mean "
                         "'heartbeat_s'?")  # fmt: skip


@pytest.mark.parametrize(
    ("variable", "suggestion"),
    [
        ("RLEXEC_HEARTBEAT", "RLEXEC_HEARTBEAT_S"),
        ("RLEXEC_SYMBOL", "RLEXEC_SYMBOLS"),
        ("RLEXEC_INITIALIZE", "RLEXEC_INITIALISE"),
        ("rlexec_log_levl", "RLEXEC_LOG_LEVEL"),
    ],
)
def test_a_misspelt_variable_is_refused_with_a_suggestion(variable: str, suggestion: str) -> None:
    # Before: ignored in silence (the service ran on the default heartbeat, symbols, ...).
    with pytest.raises(ServiceConfigError) as info:
        load_service_settings(None, {}, {variable: "1"})
    assert info.value.source == f"env {variable}"
    assert info.value.reason == f"unknown variable; did you mean {suggestion}?"


@pytest.mark.parametrize(
    "variable",
    [
        "RLEXEC_VENUE_BUSY_POLL_US",  # close to busy_poll_us, but the venue's (compose)
        "RLEXEC_VENUE_SPEED",
        "RLEXEC_API_TOKENS",
        "RLEXEC_API_PORT",
        "RLEXEC_DATA_DIR",
        "RLEXEC_FIX_CODEC",
        "RLEXEC_DEBUG",
        "RLEXEC_IMAGE",
        "RLEXEC_SOMETHING_ELSE",
    ],
)
def test_other_components_variables_are_not_taken_for_misspellings(variable: str) -> None:
    settings = load_service_settings(None, {}, {variable: "1"})
    assert settings.busy_poll_us == 0


def test_a_path_in_an_error_is_shown_as_written(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ServiceConfigError) as info:
        load_service_settings(None, {"model": missing}, {})
    assert f"(got '{missing}')" in str(info.value)
    assert "PosixPath" not in str(info.value)
