"""The dynamic-risk monitors: each detector fires with its numbers, nothing ever loosens early,
a person can only tighten, and the overlay's limits are never touched."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from rlexec.market.book import L2Book
from rlexec.market.events import Trade
from rlexec.market.orders import Side
from rlexec.risk import KillState, RiskOverlay
from rlexec.risk.monitors import (
    Kind,
    Latch,
    MonitorAction,
    MonitorConfig,
    MonitorConfigError,
    MonitorSet,
    load_monitor_config,
)
from rlexec.risk.testing import overlay as make_overlay

S = 1_000_000_000
MS = 1_000_000
T0 = 10 * 3600 * S
SYM = "AAPL"
LOT = MonitorConfig().lot_size
MID = 5_000_000  # $500.00 in LOBSTER units


def book(bid: int, ask: int, bid_size: int = 500, ask_size: int = 500) -> L2Book:
    b = L2Book()
    if bid_size:
        b.set_level(Side.BUY, bid, bid_size)
    if ask_size:
        b.set_level(Side.SELL, ask, ask_size)
    return b


def monitors(
    overlay: RiskOverlay | None = None, registry: CollectorRegistry | None = None, **cfg: object
) -> MonitorSet:
    values: dict[str, object] = {"max_daily_loss": 10_000.0} if overlay is None else {}
    return MonitorSet(load_monitor_config(values | cfg), [SYM], overlay=overlay, registry=registry)


def quiet(m: MonitorSet, seconds: int, start: int = T0, step_ms: int = 100) -> int:
    """A calm market: the mid wiggles by one tick around MID, spread 2 ticks."""
    t = start
    for k in range(seconds * 1000 // step_ms):
        t = start + k * step_ms * MS
        off = 100 * ((k // 10) % 2)
        m.on_book(SYM, book(MID - 100 + off, MID + 100 + off), t)
        if k % 10 == 0:
            m.on_time(t)
    return t


def tightened(m: MonitorSet) -> list[MonitorAction]:
    return [a for a in m.actions if a.tightened]


# -- the latch ----------------------------------------------------------------------------


def test_latch_tightens_at_once_and_lifts_only_after_the_clear_time() -> None:
    latch = Latch(clear_ns=10 * S)
    assert latch.update(0.5, T0) and latch.level == 0.5
    assert not latch.update(1.0, T0 + 1 * S)
    assert not latch.update(0.8, T0 + 5 * S)
    assert not latch.update(1.0, T0 + 10 * S)  # 9 s clear so far
    assert latch.update(1.0, T0 + 11 * S)
    assert latch.level == 0.8  # the lowest level wanted while it was clearing
    assert latch.update(0.0, T0 + 12 * S) and latch.level == 0.0


def test_a_relapse_restarts_the_clear_time() -> None:
    latch = Latch(clear_ns=10 * S)
    latch.update(0.0, T0)
    latch.update(1.0, T0 + 1 * S)
    latch.update(0.0, T0 + 9 * S)  # the condition is back: the clock starts again
    assert not latch.update(1.0, T0 + 12 * S)
    assert not latch.update(1.0, T0 + 21 * S)
    assert latch.update(1.0, T0 + 22 * S) and latch.level == 1.0


# -- market anomalies ---------------------------------------------------------------------


def test_crossed_or_locked_book_pauses_and_names_the_prices() -> None:
    m = monitors(stale_after_s=100.0)
    m.on_book(SYM, book(MID, MID), T0)
    assert m.paused(SYM) and m.scale(SYM, 1000) == 0
    (action,) = tightened(m)
    assert action.code == "CROSSED_BOOK"
    assert action.reason == f"CROSSED_BOOK: locked bid={MID} ≥ ask={MID} → pause"
    m.on_book(SYM, book(MID - 100, MID + 100), T0 + 1 * S)
    m.on_time(T0 + 20 * S)
    assert m.paused(SYM)  # clear for 19 s < 30 s
    m.on_book(SYM, book(MID - 100, MID + 100), T0 + 31 * S)
    m.on_time(T0 + 31 * S)
    assert not m.paused(SYM)
    lift = m.actions[-1]
    assert not lift.tightened and lift.code == "CROSSED_BOOK"
    assert lift.ts_ns - action.ts_ns >= 30 * S


def test_trade_through_the_collar_pauses() -> None:
    m = monitors(collar_bps=50.0)
    m.on_book(SYM, book(MID - 100, MID + 100), T0)
    m.on_trade(SYM, Trade(T0, MID + 2_400, 100, Side.BUY), T0)  # 48 bps: inside
    assert not m.paused(SYM)
    m.on_trade(SYM, Trade(T0, MID - 30_000, 100, Side.SELL), T0 + MS)  # 60 bps
    assert m.paused(SYM)
    assert tightened(m)[0].reason.startswith(
        f"TRADE_THROUGH: print={MID - 30_000} is 60.0bps from mid={MID} > collar=50bps"
    )


def test_stale_feed_pauses_after_the_stated_time() -> None:
    m = monitors(stale_after_s=5.0)
    m.on_book(SYM, book(MID - 100, MID + 100), T0)
    m.on_time(T0 + 5 * S)
    assert not m.paused(SYM)
    m.on_time(T0 + 5 * S + MS)
    assert m.paused(SYM)
    assert tightened(m)[0].code == "STALE_FEED"


def test_spread_blowout_scales_size_against_its_own_baseline() -> None:
    m = monitors()
    t = quiet(m, 90)
    assert m.multiplier(SYM) == 1.0 and not tightened(m)
    m.on_book(SYM, book(MID - 1_000, MID + 1_000), t + 200 * MS)  # 20 ticks vs ~2
    assert m.multiplier(SYM) == 0.5
    (action,) = [a for a in tightened(m) if a.code == "SPREAD_BLOWOUT"]
    assert action.reason.startswith("SPREAD_BLOWOUT: spread=20ticks > 4×baseline=2.")
    # whole lots, rounded down — but a throttle never starves a parent's last odd lot
    assert [m.scale(SYM, q) for q in (1_000, 1_050, 250, 150, 99, 1)] == [500, 500, 100, 100, 99, 1]


def test_one_sided_book_must_persist_before_it_scales() -> None:
    m = monitors(one_sided_min_s=3.0)
    for k in range(25):
        m.on_book(SYM, book(MID - 100, MID + 100, bid_size=10, ask_size=1000), T0 + k * 100 * MS)
    assert m.multiplier(SYM) == 1.0  # 2.4 s
    for k in range(25, 40):
        m.on_book(SYM, book(MID - 100, MID + 100, bid_size=10, ask_size=1000), T0 + k * 100 * MS)
    assert m.multiplier(SYM) == 0.5
    assert "ONE_SIDED_BOOK: bid_depth=10 ask_depth=1000 ratio=0.010" in tightened(m)[0].reason


def test_quote_rate_surge_scales_size() -> None:
    m = monitors(quote_rate_min_per_s=50.0)
    t = quiet(m, 90)  # 10 updates a second
    assert not tightened(m)
    for k in range(1, 1001):  # 1,000 in the next second
        m.on_book(SYM, book(MID - 100, MID + 100), t + k * MS)
    m.on_book(SYM, book(MID - 100, MID + 100), t + 1001 * MS)
    assert m.multiplier(SYM) == 0.5
    assert tightened(m)[0].code == "QUOTE_RATE_SURGE"


def test_mid_jump_and_volatility_regime_react_to_a_fall() -> None:
    m = monitors()
    t = quiet(m, 300)
    assert not tightened(m)
    for k in range(1, 101):  # −2 % in 10 s
        mid = MID - k * 1_000
        m.on_book(SYM, book(mid - 100, mid + 100), t + k * 100 * MS)
    codes = {a.code for a in tightened(m)}
    assert {"MID_JUMP", "VOL_REGIME"} <= codes
    assert m.paused(SYM) and m.multiplier(SYM) <= 0.5
    vol = next(a for a in tightened(m) if a.code == "VOL_REGIME")
    assert "sigma_1m=" in vol.reason and "×baseline=" in vol.reason and "→ size×" in vol.reason


# -- model trust --------------------------------------------------------------------------


def test_drift_beyond_the_threshold_distrusts_the_policy() -> None:
    m = monitors(drift_max=3.0, trust_clear_s=60.0)
    m.on_drift({"spread": 1.0, "imbalance": 2.9}, T0)
    assert m.trusted(SYM)
    m.on_drift({"spread": 1.0, "imbalance": 3.5}, T0 + S)
    assert not m.trusted(SYM)
    assert tightened(m)[0].reason == "POLICY_DRIFT: feature=imbalance drift=3.50σ > 3σ → schedule"
    m.on_drift({"imbalance": 0.5}, T0 + 2 * S)
    m.on_time(T0 + 61 * S)
    assert not m.trusted(SYM)
    m.on_time(T0 + 62 * S)
    assert m.trusted(SYM)


def test_action_mix_and_realised_is_against_the_backtest() -> None:
    ref = (0.2, 0.2, 0.2, 0.2, 0.2)
    m = monitors(action_reference=ref, action_window=20, action_min=20, action_tv_max=0.5,
                 is_reference_bps=(5.0, 10.0), is_window=2, is_z_max=3.0)  # fmt: skip
    for k in range(20):
        m.on_action(SYM, k % 5, T0 + k * S)
    assert m.trusted(SYM)
    for k in range(20):
        m.on_action(SYM, 4, T0 + (20 + k) * S)
    assert not m.trusted(SYM)
    assert any(a.code == "POLICY_ACTIONS" for a in tightened(m))
    m2 = monitors(is_reference_bps=(5.0, 10.0), is_window=2, is_z_max=3.0)
    m2.on_parent_done(SYM, 30.0, T0)
    m2.on_parent_done(SYM, 30.0, T0 + S)  # z = 2.5
    assert m2.trusted(SYM)
    m2.on_parent_done(SYM, 50.0, T0 + 2 * S)  # mean z of the last two = 3.5
    assert not m2.trusted(SYM)
    assert tightened(m2)[0].code == "POLICY_IS"


# -- loss trajectory ----------------------------------------------------------------------


def test_loss_tightens_then_moves_the_kill_switch_to_reducing_before_the_hard_limit() -> None:
    ov = make_overlay()
    limit = ov.limits.max_daily_loss
    m = monitors(overlay=ov)
    price = 5_000_000
    qty = 1_000
    m.on_fill(SYM, Side.BUY, qty, price, T0)

    # one share loses (price − mid) / 10⁴ currency units
    def mid_for(loss: float) -> float:
        return price - loss * 10_000 / qty

    m.on_book(SYM, book(int(mid_for(0.2 * limit)), int(mid_for(0.2 * limit)) + 200), T0 + 2 * S)
    assert m.multiplier(SYM) == 1.0 and ov.state is KillState.ACTIVE
    m.on_book(SYM, book(int(mid_for(0.3 * limit)), int(mid_for(0.3 * limit)) + 200), T0 + 4 * S)
    assert m.multiplier(SYM) == 0.5
    assert any(a.code == "LOSS_DRAWDOWN" for a in tightened(m))
    assert ov.state is KillState.ACTIVE
    m.on_book(SYM, book(int(mid_for(0.7 * limit)), int(mid_for(0.7 * limit)) + 200), T0 + 6 * S)
    reached: KillState = ov.state  # (a fresh name: mypy narrowed ov.state above)
    assert reached is KillState.REDUCING
    assert ov.history[-1].who == "monitor:loss_trajectory"
    assert "LOSS_REDUCE: pnl=" in ov.history[-1].why


# -- a person, config, metrics ------------------------------------------------------------


def test_a_person_can_only_override_towards_safety() -> None:
    m = monitors()
    m.override(SYM, "alice", "news pending", T0, multiplier=0.5)
    assert m.multiplier(SYM) == 0.5
    m.override(SYM, "bob", "looks fine", T0 + S, multiplier=0.9)  # cannot loosen
    assert m.multiplier(SYM) == 0.5
    m.override(SYM, "bob", "halt AAPL", T0 + S, pause=True, distrust=True)
    assert m.paused(SYM) and not m.trusted(SYM)
    with pytest.raises(ValueError, match="within \\[0, 1\\]"):
        m.override(SYM, "bob", "more", T0, multiplier=1.5)
    with pytest.raises(ValueError, match="who and why"):
        m.override(SYM, " ", "x", T0, multiplier=0.1)


def test_bad_config_names_the_key() -> None:
    with pytest.raises(MonitorConfigError, match=r"monitors\.jump_k_sigma: .*greater than 0"):
        load_monitor_config({"jump_k_sigma": -1})
    with pytest.raises(MonitorConfigError, match=r"monitors\.nope: "):
        load_monitor_config({"nope": 1})
    with pytest.raises(MonitorConfigError, match="vol_weights"):
        load_monitor_config({"vol_weights": (0.5, 0.5, 0.5)})
    with pytest.raises(MonitorConfigError, match="max_daily_loss: required"):
        MonitorSet(MonitorConfig(), [SYM])


def test_every_action_has_a_metric_and_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    m = monitors(registry=registry)
    caplog.set_level(logging.INFO, logger="rlexec.risk.monitors")
    m.on_book(SYM, book(MID, MID - 100), T0)
    assert not caplog.records  # nothing logged on the event path
    m.on_time(T0 + MS)
    line = caplog.records[0].getMessage()
    assert line.startswith(
        "event=monitor_action monitor=crossed_book symbol=AAPL code=CROSSED_BOOK"
    )
    get = registry.get_sample_value
    labels = {"monitor": "crossed_book", "code": "CROSSED_BOOK", "tightened": "true"}
    assert get("rlexec_risk_monitor_actions_total", labels) == 1
    assert get("rlexec_risk_monitor_paused", {"symbol": SYM}) == 1
    assert get("rlexec_risk_monitor_size_multiplier", {"symbol": SYM}) == 1
    level = {"monitor": "crossed_book", "symbol": SYM, "kind": "pause"}
    assert get("rlexec_risk_monitor_level", level) == 0


# -- the property: only ever tighter than the hard overlay ---------------------------------

Event = tuple[str, int, int, int, int, int]

events = st.lists(
    st.tuples(
        st.sampled_from(["book", "book", "book", "trade", "fill", "time", "drift"]),
        st.integers(1, 20_000),  # ms since the last event
        st.integers(-400, 400),  # mid offset, ticks
        st.integers(-3, 30),  # spread, ticks (≤ 0: locked or crossed)
        st.integers(0, 2_000),  # bid size
        st.integers(0, 2_000),  # ask size
    ),
    max_size=120,
)


def _replay(m: MonitorSet, seq: list[Event]) -> Iterator[int]:
    t = T0
    for kind, gap_ms, off, spread, bsz, asz in seq:
        t += gap_ms * MS
        mid = MID + off * 100
        if kind == "book":
            m.on_book(SYM, book(mid - spread * 50, mid + spread * 50, bsz, asz), t)
        elif kind == "trade":
            m.on_trade(SYM, Trade(t, mid + spread * 1_000, 100, Side.BUY), t)
        elif kind == "fill":
            m.on_fill(SYM, Side.BUY if bsz % 2 else Side.SELL, 100 + asz, mid, t)
        elif kind == "time":
            m.on_time(t)
        else:
            m.on_drift({"f": abs(off) / 50}, t)
        yield t


@settings(max_examples=150, deadline=None)
@given(seq=events, qty=st.integers(1, 2 * LOT) | st.integers(1, 50_000))
def test_monitors_only_ever_tighten(seq: list[Event], qty: int) -> None:
    ov = make_overlay()
    hard = ov.limits
    m = monitors(overlay=ov, jump_window_s=5.0, anomaly_warmup_s=5.0, vol_warmup_s=5.0)
    clear = {"volatility": 60.0, "policy_drift": 300.0, "loss_drawdown": 120.0,
             "loss_slope": 120.0}  # fmt: skip
    was_active = True
    for _ in _replay(m, seq):
        mult = m.multiplier(SYM)
        assert 0.0 <= mult <= 1.0
        scaled = m.scale(SYM, qty)
        assert 0 <= scaled <= qty
        if m.paused(SYM) or mult == 0.0:
            assert scaled == 0
        elif mult < 1.0:  # slowed, never starved: at least one lot, or all of a smaller qty
            assert scaled >= min(qty, LOT) and (scaled % LOT == 0 or scaled == qty)
        assert ov.limits == hard  # no limit of the overlay is ever changed
        if not was_active:
            assert ov.state is not KillState.ACTIVE  # monitors never move it back
        was_active = ov.state is KillState.ACTIVE
    assert m.early_lifts == 0
    # independently of the latch: every lift comes at least its clear time after the last
    # tightening of the same monitor, symbol and kind
    last: dict[tuple[str, str, str], int] = {}
    for a in m.actions:
        key = (a.monitor, a.symbol, a.kind)
        if a.tightened:
            last[key] = a.ts_ns
        elif a.kind in (k.value for k in Kind):
            assert a.ts_ns - last[key] >= clear.get(a.monitor, 30.0) * S


def test_importing_the_monitors_loads_nothing_but_market_and_risk() -> None:
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\nimport rlexec.risk.monitors\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('rlexec.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(out.stdout)
    assert "rlexec.risk.monitors.monitor_set" in loaded
    # (and `rlexec.native`, which says which modules run compiled, with the library mypyc
    # compiled some of market's into)
    native = {"rlexec.native", "rlexec.hotpath__mypyc"}
    assert all(m.split(".")[1] in ("market", "risk") for m in set(loaded) - native), loaded
