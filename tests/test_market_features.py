"""Feature values checked against numbers worked out by hand from the first AAPL rows."""

from __future__ import annotations

import math
from itertools import islice, pairwise
from pathlib import Path

import pytest

from rlexec.market.book import L2Book
from rlexec.market.book_replay import BookReplay
from rlexec.market.features import (
    FEATURE_NAMES,
    ExecutionState,
    FeatureBuilder,
    FeatureConfig,
)
from rlexec.market.lobster import LobsterPair
from rlexec.market.orders import Side

T0 = 34_200_004_241_176  # first AAPL event


def _after(aapl: Path, rows: int, config: FeatureConfig | None = None) -> BookReplay:
    replay = BookReplay(LobsterPair.from_message(aapl), config)
    for _ in islice(replay, rows):
        pass
    return replay


def test_book_features_after_row_7(aapl_message: Path) -> None:
    # Row 7: ask 585.74 × 40, bid 585.73 × 20.
    f = dict(zip(FEATURE_NAMES, _after(aapl_message, 7).features.market_vector(), strict=False))
    assert f["spread_ticks"] == 1.0
    assert f["imbalance_l1"] == pytest.approx((20 - 40) / 60)
    assert f["depth_imbalance"] == pytest.approx((20 - 40) / 60)  # level 1 only
    micro = (5857300 * 40 + 5857400 * 20) / 60
    assert f["microprice_offset_bps"] == pytest.approx((micro - 5857350) / 5857350 * 1e4)
    assert f["microprice_offset_bps"] == pytest.approx(-0.028454, abs=1e-6)


def test_trade_window_after_the_opening_sweep(aapl_message: Path) -> None:
    # Rows 8–27 are 20 prints at 34200.275…: 18 buyer-initiated (resting sells) totalling
    # 825 shares, hidden ones included, and 2 seller-initiated (1 + 10 shares).
    features = _after(aapl_message, 27).features
    assert features.trade_count == 20
    assert features.signed_volume == 825 - 11
    # Row 28 is a new order 50,744 ns after the last print.
    features = _after(aapl_message, 28).features
    assert features.market_vector()[7] == pytest.approx(50_744e-9)


def test_trade_window_expires(aapl_message: Path) -> None:
    # Row 40 is at 34200.701389248; the last prints were at 34200.418943908, 0.28 s earlier.
    features = _after(aapl_message, 40, FeatureConfig(window_s=0.25)).features
    assert (features.trade_count, features.signed_volume) == (0, 0)
    features = _after(aapl_message, 40, FeatureConfig(window_s=0.3)).features
    # Row 31 (34200.3587, buyer 4) is now outside; rows 32–36 are sellers 18, 9, hidden
    # 23 and 77, and 23.
    assert features.trade_count == 5
    assert features.signed_volume == -(18 + 9 + 23 + 77 + 23)
    # Asking later drops everything: the window is measured at decision time too.
    assert features.market_vector(now_ns=T0 + 10**10)[6] == 0


def test_volatility_is_an_ewma_of_mid_returns(aapl_message: Path) -> None:
    # Mids after rows 1–5: 585.635, 585.620, 585.625, 585.630, 585.645 (× 1e4).
    mids = [5856350, 5856200, 5856250, 5856300, 5856450]
    var = 0.0
    for a, b in pairwise(mids):
        r = (b - a) / a * 1e4
        var += 0.5 * (r * r - var)  # half-life of one mid change: alpha = 0.5
    features = _after(aapl_message, 5, FeatureConfig(vol_halflife=1.0)).features
    assert features.volatility_bps == pytest.approx(math.sqrt(var))
    assert features.volatility_bps == pytest.approx(0.1991, abs=1e-4)


@pytest.mark.parametrize(("side", "sign"), [(Side.BUY, 1.0), (Side.SELL, -1.0)])
def test_execution_state_features(side: Side, sign: float) -> None:
    state = ExecutionState(side, quantity=1000, start_ns=0, end_ns=100, arrival_mid=5856350.0)
    state.record_fill(5857300, 100)
    state.record_fill(5857500, 300)  # avg 5857450
    builder = FeatureBuilder(L2Book())
    vector = builder.vector(state, now_ns=25)
    f = dict(zip(FEATURE_NAMES, vector, strict=True))
    assert f["elapsed_frac"] == 0.25
    assert f["remaining_frac"] == 0.6
    assert f["shortfall_bps"] == pytest.approx(sign * (5857450 - 5856350) / 5856350 * 1e4)
    # One-sided (here: empty) book: undefined market features are NaN, never a made-up 0.
    assert math.isnan(f["spread_ticks"]) and math.isnan(f["imbalance_l1"])
    assert builder.vector(state, now_ns=500)[8] == 1.0  # elapsed is clipped at the horizon


def test_vector_follows_the_contract_and_is_deterministic(aapl_message: Path) -> None:
    def run() -> list[list[float]]:
        replay = BookReplay(LobsterPair.from_message(aapl_message))
        state = ExecutionState(Side.SELL, 5000, T0, T0 + 600 * 10**9, 5856350.0)
        out = []
        for i, _ in enumerate(islice(replay, 3000)):
            if i % 500 == 0:
                out.append(replay.features.vector(state))
        return out

    first, second = run(), run()
    assert first == second
    assert all(len(v) == len(FEATURE_NAMES) for v in first)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="window_s"):
        FeatureConfig(window_s=0)
    with pytest.raises(ValueError, match="tick_size"):
        FeatureConfig(tick_size=0)
