"""Limits: loaded from TOML and RLEXEC_RISK_*, errors that name the key, tighten-only changes."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from rlexec.market.errors import RlexecError
from rlexec.risk import (
    Approval,
    Denial,
    LimitLooseningError,
    Reason,
    RiskConfigError,
    RiskLimits,
    SymbolLimits,
    TradingWindow,
    load_limits,
    tightened,
)
from rlexec.risk.limits import STRICTER
from rlexec.risk.testing import MID, T0, buy, limits, overlay

GOOD_TOML = """
[risk]
max_gross_position = 50000
max_daily_loss = 25000.0

[risk.symbols.AAPL]
max_position = 20000
max_order_qty = 5000
max_order_notional = 3000000.0

[risk.symbols.MSFT]
max_long_position = 1000
max_short_position = 0
max_order_qty = 100
min_order_qty = 10
max_order_notional = 50000.0
price_collar_bps = 25

[risk.trading_window]
start = 09:35:00
end = "15:55"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rlexec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_a_good_file_with_defaults(tmp_path: Path) -> None:
    lim = load_limits(write(tmp_path, GOOD_TOML), env={})
    assert lim.max_gross_position == 50_000
    assert lim.symbols["AAPL"].max_long_position == 20_000
    assert lim.symbols["AAPL"].max_short_position == 20_000
    assert lim.symbols["MSFT"].max_short_position == 0
    assert lim.collar_bps("AAPL") == 100.0  # the stated default
    assert lim.collar_bps("MSFT") == 25.0
    assert lim.trading_window == TradingWindow(start=time(9, 35), end=time(15, 55))
    # the stated safe defaults
    assert lim.max_working_orders == 10
    assert (lim.max_orders_per_s, lim.order_burst) == (10, 10)
    assert (lim.max_messages_per_s, lim.message_burst) == (20, 20)
    assert lim.max_reference_age_ms == 1000
    assert lim.duplicate_window_ms == 1000
    assert (lim.max_fills, lim.fill_window_ms) == (50, 10_000)


def test_a_file_without_a_risk_table_is_read_whole(tmp_path: Path) -> None:
    text = GOOD_TOML.replace("[risk]\n", "").replace("[risk.", "[")
    assert load_limits(write(tmp_path, text), env={}) == load_limits(
        write(tmp_path, GOOD_TOML), env={}
    )


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {
        "RLEXEC_RISK_MAX_DAILY_LOSS": "1000.5",
        "RLEXEC_RISK_TRADING_WINDOW__END": "15:00",
        "RLEXEC_RISK_SYMBOLS__AAPL__MAX_ORDER_QTY": "100",
        "RLEXEC_RISK_SYMBOLS__brk.b__MAX_POSITION": "10",
        "RLEXEC_RISK_SYMBOLS__brk.b__MAX_ORDER_QTY": "10",
        "RLEXEC_RISK_SYMBOLS__brk.b__MAX_ORDER_NOTIONAL": "1e4",
        "OTHER_VARIABLE": "ignored",
    }
    lim = load_limits(write(tmp_path, GOOD_TOML), env=env)
    assert lim.max_daily_loss == 1000.5
    assert lim.trading_window.end == time(15, 0)
    assert lim.trading_window.start == time(9, 35)  # the rest of the table stays
    assert lim.symbols["AAPL"].max_order_qty == 100
    assert lim.symbols["AAPL"].max_order_notional == 3_000_000.0
    assert lim.symbols["brk.b"].max_long_position == 10  # the symbol is kept as written


def test_environment_alone_with_json_tables() -> None:
    env = {
        "RLEXEC_RISK_MAX_GROSS_POSITION": "100",
        "RLEXEC_RISK_MAX_DAILY_LOSS": "10",
        "RLEXEC_RISK_SYMBOLS": '{"AAPL": {"max_position": 5, "max_order_qty": 5, '
        '"max_order_notional": 1000}}',
    }
    lim = load_limits(env=env)
    assert list(lim.symbols) == ["AAPL"]


def test_the_process_environment_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLEXEC_RISK_MAX_WORKING_ORDERS", "3")
    assert load_limits(write(tmp_path, GOOD_TOML)).max_working_orders == 3


def config_error(tmp_path: Path, text: str = GOOD_TOML, **env: str) -> RiskConfigError:
    with pytest.raises(RiskConfigError) as info:
        load_limits(write(tmp_path, text), env=env)
    assert isinstance(info.value, RlexecError)  # the CLI prints it as one line
    return info.value


@pytest.mark.parametrize(
    ("remove", "key"),
    [
        ("max_daily_loss = 25000.0\n", "max_daily_loss"),
        ("max_gross_position = 50000\n", "max_gross_position"),
        ("max_order_qty = 5000\n", "symbols.AAPL.max_order_qty"),
        ("max_order_notional = 3000000.0\n", "symbols.AAPL.max_order_notional"),
        ("max_position = 20000\n", "symbols.AAPL.max_long_position"),
    ],
)
def test_a_missing_required_limit_names_the_key(tmp_path: Path, remove: str, key: str) -> None:
    err = config_error(tmp_path, GOOD_TOML.replace(remove, ""))
    assert err.key == key
    assert err.reason == "missing (required, no default)"
    # a missing symbol limit is blamed on the file that has the symbol's table
    source = str(tmp_path / "rlexec.toml") if key.startswith("symbols.") else None
    assert err.source == source
    where = f" (from {source})" if source else ""
    assert str(err).startswith(f"risk config: {key}{where}: missing (required, no default)")


def test_no_symbols_at_all(tmp_path: Path) -> None:
    err = config_error(tmp_path, "[risk]\nmax_gross_position = 1\nmax_daily_loss = 1\n")
    assert err.key == "symbols"


@pytest.mark.parametrize(
    ("env", "key", "reason"),
    [
        ({"RLEXEC_RISK_MAX_ORDERS_PER_S": "-1"}, "max_orders_per_s", "greater than 0"),
        ({"RLEXEC_RISK_MAX_ORDERS_PER_S": "ten"}, "max_orders_per_s", "valid integer"),
        ({"RLEXEC_RISK_MAX_DAILY_LOSS": "nan"}, "max_daily_loss", "finite number"),
        ({"RLEXEC_RISK_MAX_DAILY_LOSS": "inf"}, "max_daily_loss", "finite number"),
        ({"RLEXEC_RISK_MAX_DAILY_LOSS": "0"}, "max_daily_loss", "greater than 0"),
        ({"RLEXEC_RISK_MAX_WORKING_ORDERS": "2.5"}, "max_working_orders", "integer"),
        (
            {"RLEXEC_RISK_SYMBOLS__AAPL__MAX_ORDER_NOTIONAL": "-5"},
            "symbols.AAPL.max_order_notional",
            "greater than 0",
        ),
        (
            {"RLEXEC_RISK_SYMBOLS__AAPL__MIN_ORDER_QTY": "6000"},
            "symbols.AAPL.max_order_qty",
            "below min_order_qty=6000",
        ),
        (
            {"RLEXEC_RISK_SYMBOLS__AAPL__MAX_ORDR_QTY": "1"},
            "symbols.AAPL.max_ordr_qty",
            "unknown key",
        ),
        ({"RLEXEC_RISK_MAX_ORDR": "1"}, "max_ordr", "unknown key"),
        (
            {"RLEXEC_RISK_TRADING_WINDOW__TZ": "Mars/Olympus"},
            "trading_window.tz",
            "unknown time zone",
        ),
        ({"RLEXEC_RISK_TRADING_WINDOW__END": "09:00"}, "trading_window.end", "not after start"),
        ({"RLEXEC_RISK_TRADING_WINDOW__END": "25:00"}, "trading_window.end", "time"),
        ({"RLEXEC_RISK_SYMBOLS": "{bad json"}, "symbols", "not valid JSON"),
        ({"RLEXEC_RISK_SYMBOLS__": "1"}, "symbols", "malformed variable name"),
        ({"RLEXEC_RISK_SYMBOLS": '{"BAD SYM": {}}'}, "symbols", "not a valid symbol"),
    ],
)
def test_a_bad_value_names_the_key_and_the_reason(
    tmp_path: Path, env: dict[str, str], key: str, reason: str
) -> None:
    err = config_error(tmp_path, **env)
    assert err.key == key, str(err)
    assert reason in str(err)
    (variable,) = env
    if key == "symbols.AAPL.max_order_qty":  # the file's max is what the variable's min breaks
        assert err.source == str(tmp_path / "rlexec.toml")
    else:
        assert err.source == f"env {variable}"
        assert f"(from env {variable})" in str(err)


def test_the_error_says_where_the_value_came_from(tmp_path: Path) -> None:
    err = config_error(tmp_path, RLEXEC_RISK_MAX_FILLS="0")
    assert str(err) == (
        "risk config: max_fills (from env RLEXEC_RISK_MAX_FILLS): "
        "Input should be greater than 0 (got '0')"
    )
    assert (err.key, err.source) == ("max_fills", "env RLEXEC_RISK_MAX_FILLS")
    err = config_error(tmp_path, GOOD_TOML.replace("max_order_qty = 100\n", "max_order_qty = 0\n"))
    assert err.key == "symbols.MSFT.max_order_qty"
    assert err.source == str(tmp_path / "rlexec.toml")
    assert f"(from {tmp_path / 'rlexec.toml'})" in str(err)
    # the variable wins over the file, and takes the blame
    err = config_error(tmp_path, RLEXEC_RISK_SYMBOLS__MSFT__MAX_ORDER_QTY="0")
    assert err.source == "env RLEXEC_RISK_SYMBOLS__MSFT__MAX_ORDER_QTY"
    err = config_error(tmp_path, GOOD_TOML + "\nmax_ordr = 1\n")
    assert (err.key, err.reason) == ("trading_window.max_ordr", "unknown key")


def test_booleans_are_not_numbers(tmp_path: Path) -> None:
    err = config_error(tmp_path, GOOD_TOML.replace("max_order_qty = 5000", "max_order_qty = true"))
    assert err.key == "symbols.AAPL.max_order_qty"


def test_several_errors_are_all_reported(tmp_path: Path) -> None:
    err = config_error(tmp_path, RLEXEC_RISK_MAX_FILLS="0", RLEXEC_RISK_MAX_WORKING_ORDERS="-1")
    assert "max_fills" in str(err) and "max_working_orders" in str(err)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(RiskConfigError, match="config file not found"):
        load_limits(tmp_path / "nope.toml", env={})
    err = config_error(tmp_path, "[risk\nmax = 1")
    assert "not valid TOML" in str(err) and "line 1" in str(err)
    err = config_error(tmp_path, "risk = 5\n")
    assert "expected a table" in str(err)


def test_limits_are_frozen() -> None:
    lim = limits()
    with pytest.raises(ValidationError):
        lim.max_daily_loss = 1e15
    with pytest.raises(ValidationError):
        lim.symbols["AAPL"].max_order_qty = 10**9


# -- tightening -----------------------------------------------------------------------------


def test_every_limit_has_a_stricter_direction() -> None:
    fields = set(RiskLimits.model_fields) | set(SymbolLimits.model_fields)
    fields -= {"start", "end", "tz"}
    assert fields <= set(STRICTER), fields - set(STRICTER)


BASE = limits(
    max_working_orders=10,
    duplicate_window_ms=500,
    fill_window_ms=1000,
    AAPL={"max_order_qty": 1000, "min_order_qty": 10, "price_collar_bps": 50},
)


@pytest.mark.parametrize(
    "changes",
    [
        {"max_working_orders": 9},
        {"max_working_orders": 10},  # at least as strict: equal is fine
        {"max_daily_loss": 1.0},
        {"max_orders_per_s": 1, "order_burst": 1},
        {"price_collar_bps": 10},
        {"duplicate_window_ms": 501},
        {"fill_window_ms": 60_000},
        {"max_reference_age_ms": 1},
        {"trading_window": {"start": "10:00", "end": "15:00"}},
    ],
)
def test_tightening_is_allowed(changes: dict[str, Any]) -> None:
    new = tightened(BASE, changes)
    for key, value in changes.items():
        if key != "trading_window":
            assert getattr(new, key) == value


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"max_working_orders": 11}, "max_working_orders"),
        ({"max_daily_loss": 1e13}, "max_daily_loss"),
        ({"order_burst": 2000}, "order_burst"),
        ({"duplicate_window_ms": 499}, "duplicate_window_ms"),
        ({"fill_window_ms": 999}, "fill_window_ms"),
        ({"price_collar_bps": 101}, "symbols.MSFT.price_collar_bps"),
        ({"trading_window": {"start": "09:00"}}, "trading_window"),
        ({"trading_window": {"end": "16:01"}}, "trading_window"),
        ({"trading_window": {"tz": "Europe/London"}}, "trading_window"),
    ],
)
def test_loosening_is_refused_naming_the_key(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(LimitLooseningError) as info:
        tightened(BASE, changes)
    assert info.value.key == key
    assert "can only be tightened" in str(info.value)


@pytest.mark.parametrize(
    ("changes", "ok"),
    [
        ({"max_order_qty": 999}, True),
        ({"max_order_qty": 1000}, True),
        ({"max_order_qty": 1001}, False),
        ({"min_order_qty": 11}, True),
        ({"min_order_qty": 9}, False),
        ({"max_position": 10}, True),
        ({"max_long_position": 2_000_000}, False),
        ({"max_order_notional": 1.0}, True),
        ({"price_collar_bps": 49}, True),
        ({"price_collar_bps": 51}, False),
        ({"price_collar_bps": None}, False),  # back to the global 100 bps
    ],
)
def test_symbol_changes(changes: dict[str, Any], ok: bool) -> None:
    if ok:
        tightened(BASE, {}, {"AAPL": changes})
    else:
        with pytest.raises(LimitLooseningError, match=r"symbols\.AAPL\."):
            tightened(BASE, {}, {"AAPL": changes})


def test_the_allow_list_can_shrink_but_not_grow() -> None:
    assert list(tightened(BASE, {}, {"MSFT": None}).symbols) == ["AAPL"]
    with pytest.raises(LimitLooseningError, match=r"symbols\.TSLA: adding a symbol"):
        tightened(BASE, {}, {"TSLA": {"max_position": 1}})


def test_a_tightening_with_a_bad_value_is_a_config_error() -> None:
    with pytest.raises(RiskConfigError, match="max_working_orders"):
        tightened(BASE, {"max_working_orders": 0})
    with pytest.raises(RiskConfigError, match="unknown key"):
        tightened(BASE, {"max_wrking_orders": 1})
    with pytest.raises(RiskConfigError, match=r"symbols\.AAPL\.max_qty: unknown key"):
        tightened(BASE, {}, {"AAPL": {"max_qty": 1}})


def test_the_overlay_applies_a_tightening_at_once_and_records_it() -> None:
    ov = overlay(BASE)
    assert isinstance(ov.check(buy(1000), T0), Approval)
    ov.tighten(who="ops", why="volatile open", symbols={"AAPL": {"max_order_qty": 500}})
    d = ov.check(buy(501, MID - 100), T0)
    assert isinstance(d, Denial) and str(d) == "MAX_ORDER_QTY: qty=501 > max=500"
    ov.tighten(who="ops", why="stop MSFT", symbols={"MSFT": None})
    d = ov.check(buy(1, symbol="MSFT"), T0)
    assert isinstance(d, Denial) and d.reason is Reason.SYMBOL_NOT_ALLOWED
    assert [r.action for r in ov.audit] == ["tighten", "tighten"]
    assert ov.audit[0].who == "ops" and "AAPL" in ov.audit[0].detail
    with pytest.raises(LimitLooseningError):
        ov.tighten(who="ops", why="oops", max_working_orders=11)
    assert ov.limits.symbols["AAPL"].max_order_qty == 500  # unchanged by the refusal
    with pytest.raises(RlexecError, match="needs who and why"):
        ov.tighten(who="", why="x", max_working_orders=1)


def test_the_example_config_loads_and_lists_every_key() -> None:
    import rlexec.risk

    example = Path(rlexec.risk.__file__).with_name("risk.example.toml")
    lim = load_limits(example, env={})
    assert set(lim.symbols) == {"AAPL", "AMZN"}
    assert lim == RiskLimits.model_validate(lim.model_dump())
    text = example.read_text(encoding="utf-8")
    for key in set(RiskLimits.model_fields) | set(SymbolLimits.model_fields):
        assert key in text, f"risk.example.toml does not mention {key}"
