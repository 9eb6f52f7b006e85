"""The fill-model cross-check against hftbacktest: its LOBSTER conversion, each stated model
difference on a constructed day where the answer is known, and a reduced run of the fixed
experiment on the AAPL day that must agree within the tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hftbacktest import BUY_EVENT, DEPTH_EVENT, SELL_EVENT, TRADE_EVENT

from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.crosscheck import TOLERANCE, failures, hbt, rlexec_modes, rlexec_side
from rlexec.simulator.crosscheck.__main__ import main
from rlexec.simulator.crosscheck.experiment import NS, Placement
from rlexec.simulator.crosscheck.report import compare, wilson
from rlexec.simulator.data import ReplayData
from tests.lobster_files import write_pair

T0 = 36_000  # 10:00:00
ASK = "1001000,100"  # $100.10 × 100, the ask in every constructed row


def day(tmp_path: Path, rows: list[tuple[float, int, int, int, int, int, str]]) -> ReplayData:
    """A level-1 pair from (time, type, id, size, price, direction, bid cells) rows."""
    messages = [f"{t:.9f},{et},{oid},{size},{px},{d}" for t, et, oid, size, px, d, _ in rows]
    books = [f"{ASK},{bid}" for *_, bid in rows]
    return ReplayData.load(write_pair(tmp_path, messages, books))


def both(data: ReplayData, price: int, start_s: float) -> tuple[float | None, float | None]:
    """First-fill time (s after entry) of a 100-share buy in rlexec and in hftbacktest."""
    order = [Placement(0, int(start_s * NS), price)]
    rl = rlexec_side.run(data, ReplayConfig(), order)[0]
    hb = hbt.run(hbt.events(data, hidden=True), order)[0]
    return tuple(  # type: ignore[return-value]
        None if o.first_fill_ns is None else round(o.first_fill_ns / NS - start_s, 3)
        for o in (rl, hb)
    )


# -- conversion -----------------------------------------------------------------------------


def test_conversion_sends_trades_with_the_aggressor_and_only_depth_that_changed(
    tmp_path: Path,
) -> None:
    data = day(
        tmp_path,
        [
            (T0 + 0.0, 1, 2, 100, 1001000, -1, "-9999999999,0"),
            (T0 + 0.1, 1, 1, 100, 1000000, 1, "1000000,100"),
            (T0 + 0.2, 1, 3, 40, 1000100, 1, "1000100,40"),  # bid improves: $100.00 not zeroed
            (T0 + 0.3, 5, 0, 7, 1000500, 1, "1000100,40"),  # hidden: seller hits a hidden bid
            (T0 + 0.4, 4, 3, 40, 1000100, 1, "1000000,100"),  # bid executed away: zeroed
        ],
    )
    with_hidden = hbt.events(data, hidden=True)
    kind = {TRADE_EVENT: "trade", DEPTH_EVENT: "depth"}
    got = [
        (kind[e & 0xFF], "buy" if e & BUY_EVENT else "sell" if e & SELL_EVENT else "?", px, q)
        for e, px, q in zip(*(with_hidden[k].tolist() for k in ("ev", "px", "qty")), strict=True)
    ]
    assert got == [
        ("depth", "sell", 100.10, 100),
        ("depth", "buy", 100.00, 100),
        ("depth", "buy", 100.01, 40),
        ("trade", "sell", 100.05, 7),
        ("trade", "sell", 100.01, 40),
        ("depth", "buy", 100.01, 0),
    ]
    assert with_hidden["exch_ts"].tolist() == with_hidden["local_ts"].tolist()
    without = hbt.events(data, hidden=False)
    assert len(without) == len(with_hidden) - 1
    assert 100.05 not in without["px"].tolist()


def test_levels_inside_a_deeper_row_are_zeroed_and_levels_beyond_it_are_kept(
    tmp_path: Path,
) -> None:
    msgs = [
        "36000.000000000,1,1,10,1000000,1",
        "36000.100000000,1,2,10,999900,1",
        "36000.200000000,1,3,10,1000100,1",  # $99.99 drops out of the two stored levels
        "36000.300000000,3,3,10,1000100,1",  # $99.99 comes back into view
    ]
    books = [
        f"{ASK},1000000,10,9999999999,0,-9999999999,0",
        f"{ASK},1000000,10,1001100,5,999900,10",
        f"{ASK},1000100,10,1001100,5,1000000,10",
        f"{ASK},1000000,10,1001100,5,999900,10",
    ]
    data = ReplayData.load(write_pair(tmp_path, msgs, books, levels=2))
    events = hbt.events(data, hidden=True)
    bids = [
        (px, q)
        for e, px, q in zip(*(events[k].tolist() for k in ("ev", "px", "qty")), strict=True)
        if e & BUY_EVENT
    ]
    # $99.99 keeps its last size while out of view; $100.01 is zeroed once the row covers it.
    assert bids == [(100.00, 10), (99.99, 10), (100.01, 10), (100.01, 0)]


# -- each stated model difference, on a day where the answer is known -----------------------


def test_both_engines_fill_when_prints_exhaust_the_queue_ahead(tmp_path: Path) -> None:
    data = day(
        tmp_path,
        [
            (T0 + 0.0, 1, 2, 100, 1001000, -1, "-9999999999,0"),
            (T0 + 0.1, 1, 1, 100, 1000000, 1, "1000000,100"),
            (T0 + 2.0, 4, 1, 60, 1000000, 1, "1000000,40"),  # 40 still ahead of us
            (T0 + 3.0, 4, 1, 40, 1000000, 1, "-9999999999,0"),  # the queue ahead is gone
            (T0 + 4.0, 5, 0, 30, 1000000, 1, "-9999999999,0"),  # hidden print reaches us
        ],
    )
    assert both(data, 1000000, T0 + 1.0) == (3.0, 3.0)


def test_a_cancellation_ahead_moves_rlexec_up_but_not_hftbacktest(tmp_path: Path) -> None:
    """rlexec_earlier: rlexec knows the cancelled order was ahead; hftbacktest's risk-averse
    queue assumes it was behind while the level is larger than its position."""
    data = day(
        tmp_path,
        [
            (T0 + 0.0, 1, 2, 100, 1001000, -1, "-9999999999,0"),
            (T0 + 0.1, 1, 1, 100, 1000000, 1, "1000000,100"),
            (T0 + 2.0, 1, 3, 50, 1000000, 1, "1000000,150"),  # arrives behind us
            (T0 + 3.0, 3, 1, 100, 1000000, 1, "1000000,50"),  # the order ahead leaves
            (T0 + 4.0, 4, 3, 50, 1000000, 1, "-9999999999,0"),  # the print behind us
        ],
    )
    assert both(data, 1000000, T0 + 1.0) == (3.0, None)


def test_revealed_volume_is_ahead_in_rlexec_but_not_in_hftbacktest(tmp_path: Path) -> None:
    """rlexec_later: on level-1 data, size that reappears at our price without a record is
    put ahead of us by rlexec (unknown_queue='ahead'); hftbacktest never moves us back."""
    data = day(
        tmp_path,
        [
            (T0 + 0.0, 1, 2, 100, 1001000, -1, "-9999999999,0"),
            (T0 + 0.1, 1, 1, 100, 1000000, 1, "1000000,100"),
            (T0 + 2.0, 1, 4, 100, 1000100, 1, "1000100,100"),  # $100.00 leaves the view
            (T0 + 3.0, 3, 4, 100, 1000100, 1, "1000000,150"),  # back, 50 shares more
            (T0 + 4.0, 4, 5, 120, 1000000, 1, "1000000,30"),  # an id never seen
        ],
    )
    assert both(data, 1000000, T0 + 1.0) == (None, 3.0)


# -- the fixed experiment, reduced ----------------------------------------------------------


def test_reduced_experiment_on_aapl_agrees_within_the_tolerance(
    aapl_message: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """20 of the 100 windows, every rlexec mode; the full run is `make validate-sim`."""
    assert main(["--out", str(tmp_path), "--message", str(aapl_message), "--windows", "20"]) == 0
    doc = json.loads((tmp_path / "crosscheck.json").read_text())
    assert (tmp_path / "crosscheck.md").read_text().startswith("# Fill-model cross-check")
    assert failures(doc) == []
    (f,) = doc["files"].values()
    assert set(f["scenarios"]) == {"touch", "inside"}
    for s in f["scenarios"].values():
        assert set(s["comparisons"]) == set(rlexec_modes())
        for mode, c in s["comparisons"].items():
            rl, hb = s["engines"][mode], s["engines"][c["hftbacktest"]]
            assert rl["n"] + rl["skipped"] == 20
            assert rl["n"] > 10
            assert 0.2 < hb["fill_rate"] < 1.0  # the experiment discriminates
            assert abs(rl["fill_rate"] - hb["fill_rate"]) <= TOLERANCE
            assert c["fill_rate_diff"] == pytest.approx(rl["fill_rate"] - hb["fill_rate"], abs=1e-3)
            assert hb["full_fill_rate"] == hb["fill_rate"]  # no-partial-fill exchange
            assert rl["mean_filled_qty"] <= hb["mean_filled_qty"]
    assert "AAPL" in capsys.readouterr().out


def test_a_file_that_does_not_cover_the_windows_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_pair(tmp_path)  # a few rows at 09:30
    assert main(["--out", str(tmp_path / "out"), "--message", str(data)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("crosscheck: error: ") and data.name in err and "10:00" in err
    assert "\n" not in err


def test_comparison_lists_the_windows_that_differ() -> None:
    from rlexec.simulator.crosscheck.experiment import Outcome

    rl = [Outcome(0, 100, 5), Outcome(1, 0, None), Outcome(2, 50, 9), Outcome(3, 100, 2)]
    hb = [Outcome(0, 100, 5), Outcome(1, 100, 4), Outcome(2, 100, 7), Outcome(3, 0, None)]
    c = compare(rl, hb, tolerance=0.0)
    assert c["windows"] == {
        "rlexec_only": [3],
        "hftbacktest_only": [1],
        "rlexec_earlier": [],
        "rlexec_later": [2],
    }
    assert c["fill_rate_diff"] == 0.0 and c["within_tolerance"] and c["same_first_fill"] == 1
    assert not compare(rl[:2], hb[:2], tolerance=0.4)["within_tolerance"]  # Δ = −0.5


@pytest.mark.parametrize(("k", "n"), [(0, 20), (7, 20), (20, 20), (72, 100)])
def test_wilson_interval_contains_the_rate_and_stays_in_0_1(k: int, n: int) -> None:
    lo, hi = wilson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert hi - lo < 2 * 1.96 * np.sqrt(0.25 / n) + 1e-9
