"""`rlexec replay` as a user runs it: a summary on good data, one clear line on bad data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lobster_files import BOOKS, MESSAGES, write_pair


def rlexec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlexec.cli.main", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_help_lists_the_subcommands() -> None:
    out = rlexec("--help")
    assert out.returncode == 0 and "replay" in out.stdout
    sub = rlexec("replay", "--help")
    assert sub.returncode == 0 and "--data" in sub.stdout


def test_summary_of_a_small_pair(tmp_path: Path) -> None:
    out = rlexec("replay", "--data", str(write_pair(tmp_path, gz=True)), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["rows"] == 5
    assert (summary["trades"], summary["hidden_trades"]) == (2, 1)
    assert summary["spread_ticks"]["mean"] == pytest.approx(58.0)


def test_human_summary_on_the_real_day(aapl_message: Path) -> None:
    out = rlexec("replay", "--data", str(aapl_message))
    assert out.returncode == 0, out.stderr
    assert "AAPL level 1: 118,497 rows" in out.stdout
    assert "events/s" in out.stdout and "spread (ticks)" in out.stdout


def _assert_one_clear_line(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "X_2012-06-21_34200000_57600000_message_1.csv"
    _assert_one_clear_line(rlexec("replay", "--data", str(missing)), str(missing), "no such file")


def test_truncated_gzip(tmp_path: Path) -> None:
    msgs = [f"{34200 + i / 1000:.3f},1,{i + 1},10,5000000,1" for i in range(3000)]
    books = [f"5100000,{i + 1},5000000,{i + 2}" for i in range(3000)]
    msg = write_pair(tmp_path, msgs, books, gz=True)
    msg.write_bytes(msg.read_bytes()[:5000])
    _assert_one_clear_line(rlexec("replay", "--data", str(msg)), msg.name, "truncated gzip")


def test_wrong_orderbook(tmp_path: Path, data_dir: Path) -> None:
    msg = write_pair(tmp_path)
    book = data_dir / "AMZN_2012-06-21_34200000_57600000_orderbook_5.csv.gz"
    out = rlexec("replay", "--data", str(msg), "--orderbook", str(book))
    _assert_one_clear_line(out, book.name, "does not pair with")


def test_wrong_orderbook_with_matching_shape(tmp_path: Path, data_dir: Path) -> None:
    """Same width, unrelated day: caught by the row counts, naming the shorter file."""
    msg = write_pair(tmp_path)
    book = data_dir / "AMZN_2012-06-21_34200000_57600000_orderbook_1.csv.gz"
    renamed = tmp_path / "other_book.csv.gz"
    renamed.write_bytes(book.read_bytes())
    out = rlexec("replay", "--data", str(msg), "--orderbook", str(renamed))
    _assert_one_clear_line(out, msg.name, "row counts differ")


def test_malformed_row(tmp_path: Path) -> None:
    msg = write_pair(tmp_path, [*MESSAGES[:2], "34200.3,1,x,18,5859100,-1", *MESSAGES[3:]], BOOKS)
    _assert_one_clear_line(rlexec("replay", "--data", str(msg)), f"{msg.name}:3", "order_id")
