"""The signal's incremental features against a brute-force recomputation from the whole event
history: on real AAPL rows (the reference reads the LOBSTER columns directly) and on
hypothesis-generated event sequences; and independence from how an instant's changes are
split into calls (the replay's one call per level change vs the live one per message)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlexec.market.book import L2Book
from rlexec.market.book_replay import BookReplay
from rlexec.market.features import FeatureConfig
from rlexec.market.lobster import LobsterPair
from rlexec.market.orders import Side
from rlexec.market.signal_features import (
    SIGNAL_FEATURE_NAMES,
    SignalConfig,
    SignalFeatureBuilder,
    Touch,
    ofi_increment,
)

_NS = 1_000_000_000


@dataclass
class History:
    """Everything seen so far, as plain lists: what the reference recomputes from."""

    books: list[tuple[int, Touch | None]]
    """(ts, touch after the event, None if one-sided), one per book event."""
    trades: list[tuple[int, int, int, int, Touch | None]]
    """(ts, size, aggressor, price, touch when it printed)."""


def reference(h: History, now: int, cfg: SignalConfig) -> list[float]:
    """The features recomputed from scratch."""
    # one touch per distinct timestamp: the last; one-sided instants are no sample
    last: dict[int, Touch | None] = {}
    for ts, touch in h.books:
        last[ts] = touch
    samples = [(ts, t) for ts, t in last.items() if t is not None]
    transitions = [
        (ts, ofi_increment(a, b), b[1] + b[3]) for (_, a), (ts, b) in pairwise(samples) if a != b
    ]

    def ofi(span_s: float) -> float:
        inside = [t for t in transitions if t[0] > now - round(span_s * 1e9)]
        depth = sum(t[2] for t in inside)
        return sum(t[1] for t in inside) * 2 * len(inside) / depth if inside and depth else 0.0

    edge = now - round(cfg.long_s * 1e9)
    recent = [t for t in h.trades if t[0] > edge]
    volume = sum(t[1] for t in recent)
    signed = sum(t[1] * t[2] for t in recent)
    inside_flow = sum(t[1] * t[2] for t in recent if t[4] is not None and t[4][0] < t[3] < t[4][2])
    current = last[max(last)] if last else None
    out = [ofi(cfg.short_s), ofi(cfg.long_s)]
    changes = [(a[0] + a[2]) / 2 for _, a in samples]
    changes = [m for k, m in enumerate(changes) if k == 0 or m != changes[k - 1]]
    alpha, variance = 1.0 - 0.5 ** (1.0 / FeatureConfig().vol_halflife), 0.0
    for a, b in pairwise(changes):
        r = (b - a) / a * 1e4
        variance += alpha * (r * r - variance)
    if current is None:
        nan = math.nan
        return [*out, nan, nan, nan, signed / volume if volume else 0.0, float(len(recent)),
                nan, nan, nan, nan, math.sqrt(variance)]  # fmt: skip
    bid, bsz, ask, asz = current
    mid = (bid + ask) / 2
    mids = [(ts, (t[0] + t[2]) / 2) for ts, t in samples]
    before = [m for ts, m in mids if ts <= edge]
    then = before[-1] if before else mids[0][1]
    tau = cfg.reversion_s * 1e9
    average, held, at = mids[0][1], mids[0][1], mids[0][0]
    for ts, m in mids[1:]:
        average = held + (average - held) * math.exp(-(ts - at) / tau)
        held, at = m, ts
    average = held + (average - held) * math.exp(-(now - at) / tau)
    last_price = h.trades[-1][3] if h.trades else None
    return [
        *out,
        (bsz - asz) / (bsz + asz),
        ((bid * asz + ask * bsz) / (bsz + asz) - mid) / mid * 1e4,
        (ask - bid) / mid * 1e4,
        signed / volume if volume else 0.0,
        float(len(recent)),
        inside_flow * 2 / (bsz + asz),
        (last_price - mid) / mid * 1e4 if last_price is not None else math.nan,
        (mid / then - 1) * 1e4,
        (mid / average - 1) * 1e4,
        math.sqrt(variance),
    ]


def assert_same(got: Sequence[float], want: Sequence[float], where: str) -> None:
    names = SIGNAL_FEATURE_NAMES[: len(want)]
    for name, g, w in zip(names, got, want, strict=True):
        if math.isnan(w):
            assert math.isnan(g), f"{where}: {name} = {g}, want NaN"
        else:
            assert g == pytest.approx(w, rel=1e-9, abs=1e-9), f"{where}: {name}"


def _touch(book: L2Book) -> Touch | None:
    if book.best_bid is None or book.best_ask is None:
        return None
    return (book.best_bid, book.best_bid_size, book.best_ask, book.best_ask_size)


# -- real data --------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [SignalConfig(), SignalConfig(0.5, 2.0, 20.0)])
def test_matches_a_recomputation_from_the_lobster_columns(
    aapl_message: Path, cfg: SignalConfig
) -> None:
    pair = LobsterPair.from_message(aapl_message)
    replay = BookReplay(pair)
    replay.features = features = SignalFeatureBuilder(replay.book, signal=cfg)
    plain = BookReplay(pair)  # the policy's features, untouched by the subclass
    history = History([], [])
    previous: Touch | None = None
    checked = 0
    for i, (row, plain_row) in enumerate(islice(zip(replay, plain, strict=False), 30_000)):
        assert row == plain_row
        # the reference reads the raw columns: the touch after each row; a print with the
        # touch before its row
        ts, etype, _, size, price, direction, levels = row
        if etype in (4, 5, 6):
            history.trades.append((ts, size, -direction, price, previous))
        ask, asz, bid, bsz = levels[:4]
        previous = (bid, bsz, ask, asz)
        history.books.append((ts, previous))
        if i % 997 == 996:
            for now in (ts, ts + 7 * _NS // 10):  # mid-burst, and after the instant
                got = features.signal_vector(now)
                assert_same(got, reference(history, now, cfg), f"row {i}, now {now}")
                assert features.market_vector(now) == plain.features.market_vector(now)
                checked += 1
    assert checked == 60


# -- generated sequences ----------------------------------------------------------------------

STEP_NS = st.sampled_from([0, 0, 1, 1_000_000, 300_000_000, 2 * _NS, 7 * _NS])
BOOK_OP = st.tuples(
    st.just("book"), STEP_NS, st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(0, 4), st.integers(0, 3),
)  # fmt: skip
TRADE_OP = st.tuples(
    st.just("trade"), STEP_NS, st.sampled_from([1, -1]), st.integers(1, 500),
    st.integers(10_000, 10_200),
)  # fmt: skip
QUERY_OP = st.tuples(st.just("query"), STEP_NS)
OPS = st.lists(st.one_of(BOOK_OP, BOOK_OP, TRADE_OP, QUERY_OP), min_size=1, max_size=80)
CFG = SignalConfig(1.0, 4.0, 10.0)


def _price(side: Side, level: int) -> int:
    """Bids 10,090…10,050, asks 10,110…10,150: never crossed, 20 units apart at best."""
    return 10_090 - 10 * level if side is Side.BUY else 10_110 + 10 * level


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_matches_a_recomputation_on_generated_sequences(ops: list[tuple[Any, ...]]) -> None:
    book = L2Book()
    features = SignalFeatureBuilder(book, signal=CFG)
    history = History([], [])
    ts = 0  # windows reaching before the clock started
    for op in ops:
        ts += int(op[1])
        if op[0] == "book":
            side, level, size = op[2], int(op[3]), int(op[4])
            book.set_level(side, _price(side, level), 100 * size)
            features.on_book(ts)
            history.books.append((ts, _touch(book)))
        elif op[0] == "trade":
            aggressor, size, price = int(op[2]), int(op[3]), int(op[4])
            history.trades.append((ts, size, aggressor, price, _touch(book)))
            features.on_trade(ts, size, aggressor, price)
        else:
            got = features.signal_vector(ts)
            assert_same(got, reference(history, ts, CFG), f"at {ts}")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(0, 4), st.integers(0, 3)),
            min_size=1, max_size=5,
        ),
        min_size=1, max_size=40,
    ),
    st.lists(STEP_NS, min_size=40, max_size=40),
)  # fmt: skip
def test_an_instant_split_into_calls_counts_once(
    instants: list[list[tuple[Side, int, int]]], steps: list[int]
) -> None:
    """The replay calls `on_book` per level change, the live service per FIX message: both
    see the same features (the touch is read once per timestamp)."""
    per_change, per_instant = L2Book(), L2Book()
    a = SignalFeatureBuilder(per_change, signal=CFG)
    b = SignalFeatureBuilder(per_instant, signal=CFG)
    ts = 1_000 * _NS
    for changes, step in zip(instants, steps, strict=False):
        ts += step + 1
        for side, level, size in changes:
            per_change.set_level(side, _price(side, level), 100 * size)
            a.on_book(ts)
            per_instant.set_level(side, _price(side, level), 100 * size)
        b.on_book(ts)
        assert_same(a.signal_vector(ts), b.signal_vector(ts), f"at {ts}")


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="short_s"):
        SignalConfig(short_s=0)
    with pytest.raises(ValueError, match="long_s"):
        SignalConfig(short_s=10, long_s=5)
    with pytest.raises(ValueError, match="reversion_s"):
        SignalConfig(reversion_s=math.inf)


def test_ofi_increment_follows_cont_kukanov_stoikov() -> None:
    # bid up a tick with 300: +300; ask unchanged, its size 200 → 150: −(150 − 200) = +50
    assert ofi_increment((100, 500, 110, 200), (101, 300, 110, 150)) == 300 + 50
    # bid falls (its 500 taken away), ask falls to 109 × 40 (new size against us)
    assert ofi_increment((100, 500, 110, 200), (99, 80, 109, 40)) == -500 - 40
    assert ofi_increment((100, 500, 110, 200), (100, 500, 110, 200)) == 0
