"""`rlexec serve` settings: flag > env > file > default, and every bad value named with its source."""

from __future__ import annotations

import argparse
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rlexec.cli.serve_args import FLAGS, add_serve_arguments, settings_from_args
from rlexec.market.errors import RlexecError
from rlexec.market.settings import SettingsError
from rlexec.risk import RiskConfigError, RiskLimits, RiskOverlay
from rlexec.service.config import (
    MAX_HORIZON_S,
    ParentSpec,
    ServiceConfigError,
    ServiceSettings,
    default_limits,
    load_service_settings,
    parse_parent_option,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rlexec serve")
    add_serve_arguments(p)
    return p


def settings(argv: list[str], env: dict[str, str] | None = None) -> ServiceSettings:
    return settings_from_args(parser().parse_args(argv), env or {})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rlexec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = settings([])
    assert (s.venue_host, s.venue_port, s.api_host, s.api_port) == (
        "127.0.0.1",
        9878,
        "127.0.0.1",
        8080,
    )
    assert (s.sender, s.md_sender, s.target, s.password) == ("CLIENT", "CLIENT-MD", "VENUE", None)
    assert (s.state, s.model, s.clock, s.symbols, s.parents) == ("memory", None, "wall", (), ())
    assert (s.log_format, s.log_level, s.resume_parents) == ("json", "INFO", False)
    assert s.drop_tightened_limits is False
    assert settings(["--drop-tightened-limits"]).drop_tightened_limits is True
    assert settings([], {"RLEXEC_DROP_TIGHTENED_LIMITS": "true"}).drop_tightened_limits is True
    assert (s.decision_interval_s, s.stale_after_s, s.shutdown_grace_s) == (15.0, 5.0, 10.0)
    assert (s.tick_size, s.lot_size, s.heartbeat_s) == (100, 100, 30)
    assert type(s) is ServiceSettings
    with pytest.raises(ValueError, match="frozen"):
        s.venue = "x:1"


@pytest.mark.parametrize(
    ("key", "flag", "file_value", "env_value", "flag_value", "expected"),
    [
        ("venue", "--venue", '"f:1"', "e:2", "c:3", ("f:1", "e:2", "c:3")),
        ("sender", "--sender", '"F"', "E", "C", ("F", "E", "C")),
        ("clock", "--clock", '"venue"', "wall", "venue", ("venue", "wall", "venue")),
        ("symbols", "--symbols", '["F"]', "E1,E2", "C", (("F",), ("E1", "E2"), ("C",))),
        ("decision_interval_s", "--decision-interval-s", "1.5", "2", "3", (1.5, 2.0, 3.0)),
        ("log_level", "--log-level", '"ERROR"', "warning", "debug", ("ERROR", "WARNING", "DEBUG")),
    ],
)
def test_a_flag_beats_the_environment_beats_the_file_beats_the_default(
    tmp_path: Path,
    key: str,
    flag: str,
    file_value: str,
    env_value: str,
    flag_value: str,
    expected: tuple[Any, Any, Any],
) -> None:
    config = write(tmp_path, f"[service]\n{key} = {file_value}\n")
    env = {f"RLEXEC_{key.upper()}": env_value}
    default = ServiceSettings.model_fields[key].default
    assert getattr(settings([]), key) == default
    assert getattr(settings(["--config", str(config)]), key) == expected[0]
    assert getattr(settings(["--config", str(config)], env), key) == expected[1]
    assert getattr(settings(["--config", str(config), flag, flag_value], env), key) == expected[2]
    # the other keys keep their defaults
    assert settings(["--config", str(config)], env).target == "VENUE"


def test_the_file_without_a_service_table_is_read_whole(tmp_path: Path) -> None:
    s = load_service_settings(write(tmp_path, 'venue = "h:5"\n'), {}, {})
    assert s.venue_port == 5


def test_other_components_variables_are_left_alone() -> None:
    env = {
        "RLEXEC_RISK_MAX_DAILY_LOSS": "1",
        "RLEXEC_API_TOKENS": "abc",
        "RLEXEC_DATA_DIR": "/data",
        "RLEXEC_TEST_REDIS_URL": "redis://127.0.0.1:6379/14",
        "RLEXEC_DEBUG": "1",
        "RLEXEC_VENUE": "h:7",
    }
    assert settings([], env).venue == "h:7"


def test_rlexec_risk_config_names_the_risk_file_for_both_loaders(tmp_path: Path) -> None:
    risk = tmp_path / "risk.toml"
    risk.write_text(
        "[risk]\nmax_gross_position = 10\nmax_daily_loss = 1.0\n"
        "[risk.symbols.AAPL]\nmax_position = 5\nmax_order_qty = 5\nmax_order_notional = 9.0\n",
        encoding="utf-8",
    )
    env = {"RLEXEC_RISK_CONFIG": str(risk)}
    s = settings([], env)
    assert s.risk_config == risk
    assert s.risk_limits(environ=env).max_gross_position == 10  # not an unknown risk key


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLEXEC_TARGET", "EXCH")
    assert settings_from_args(parser().parse_args([])).target == "EXCH"


BAD: list[tuple[str, str, str, str]] = [
    # key, bad value as TOML, the same as a string (env / flag), words of the reason
    ("venue", '"nohost"', "nohost", "HOST:PORT"),
    ("venue", '"h:70000"', "h:70000", "outside 1..65535"),
    ("api", '"h:port"', "h:port", "not a number"),
    ("sender", '"A B"', "A B", "without spaces"),
    ("state", '"postgres://x"', "postgres://x", "redis://"),
    ("state", '"redis://h/db"', "redis://h/db", "database 'db' is not a number"),
    ("model", '"/no/such.onnx"', "/no/such.onnx", "no such file"),
    ("risk_config", '"/no/risk.toml"', "/no/risk.toml", "no such file"),
    ("clock", '"sundial"', "sundial", "'wall' or 'venue'"),
    ("symbols", '["A", "A"]', "A,A", "'A' is listed twice"),
    ("symbols", '["A", "{x}"]', "A,{x}", "'{x}' is not a valid symbol"),
    ("decision_interval_s", "-1", "-1", "greater than or equal to 0.1"),
    ("decision_interval_s", "1e-9", "1e-9", "greater than or equal to 0.1"),
    ("decision_interval_s", '"inf"', "inf", "finite number"),
    ("log_format", '"xml"', "xml", "'json' or 'text'"),
    ("audit_log", '"/no/folder/audit.jsonl"', "/no/folder/audit.jsonl", "does not exist"),
    ("parents", '["buy 10 AAPL 10x"]', "buy 10 AAPL 10x", "horizon '10x'"),
]


def _flag_value(key: str, text: str) -> list[str]:
    return [FLAGS[key], text]


@pytest.mark.parametrize(("key", "toml", "text", "words"), BAD)
@pytest.mark.parametrize("where", ["file", "env", "flag"])
def test_every_bad_value_names_the_key_and_its_source(
    tmp_path: Path, key: str, toml: str, text: str, words: str, where: str
) -> None:
    if where == "flag" and key in ("clock", "log_format"):  # argparse's choices name the flag
        with pytest.raises(SystemExit):
            parser().parse_args(_flag_value(key, text))
        return
    config = write(tmp_path, f"[service]\n{key} = {toml}\n")
    argv = ["--config", str(config)] if where == "file" else []
    env = {f"RLEXEC_{key.upper()}": text} if where == "env" else {}
    if where == "flag":
        argv += _flag_value(key, text)
    with pytest.raises(ServiceConfigError) as info:
        settings(argv, env)
    err = info.value
    source = {"file": str(config), "env": f"env RLEXEC_{key.upper()}", "flag": FLAGS[key]}[where]
    assert err.key.split(".")[0] == key, str(err)
    assert err.source == source, str(err)
    assert words in err.reason, str(err)
    assert str(err).startswith(f"service config: {err.key} (from {source}): ")
    assert isinstance(err, SettingsError) and isinstance(err, RlexecError)


def test_unknown_keys_in_the_file_are_errors(tmp_path: Path) -> None:
    config = write(tmp_path, '[service]\nvenu = "h:1"\n')
    with pytest.raises(ServiceConfigError) as info:
        load_service_settings(config, {}, {})
    assert (info.value.key, info.value.reason, info.value.source) == (
        "venu",
        "unknown key; did you mean 'venue'?",
        str(config),
    )
    config = write(tmp_path, '[service]\n[[service.parents]]\nsymbol = "A"\nsid = "buy"\n')
    with pytest.raises(
        ServiceConfigError, match=r"parents\.0\.sid \(from .*\): unknown key; did you mean 'side'"
    ):
        load_service_settings(config, {}, {})


def test_a_bad_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ServiceConfigError, match="config file not found"):
        load_service_settings(tmp_path / "nope.toml", {}, {})
    with pytest.raises(ServiceConfigError, match=r"not valid TOML.*line 2"):
        load_service_settings(write(tmp_path, "[service]\nvenue = \n"), {}, {})
    with pytest.raises(ServiceConfigError, match=r"service \(from .*\): expected a table"):
        load_service_settings(write(tmp_path, "service = 3\n"), {}, {})


def test_a_secret_is_never_shown(tmp_path: Path) -> None:
    config = write(tmp_path, "[service]\npassword = 123456789\n")
    with pytest.raises(ServiceConfigError) as info:
        load_service_settings(config, {}, {})
    assert info.value.key == "password" and "123456789" not in str(info.value)
    s = settings([], {"RLEXEC_PASSWORD": "hunter2"})
    assert s.password is not None and s.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(s)


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:s3cretpw@127.0.0.1:abc/12",
        "redis://:s3cretpw@127.0.0.1:6379/x",
        "redis://:top@s3cretpw@127.0.0.1:6379/x",  # an @ in the password: urlsplit takes it so
    ],
)
def test_a_redis_password_is_never_shown(url: str) -> None:
    with pytest.raises(ServiceConfigError) as info:
        settings(["--state", url])
    assert info.value.key == "state" and "s3cretpw" not in str(info.value)
    assert ":***@127.0.0.1" in str(info.value)


def test_the_sessions_need_distinct_comp_ids() -> None:
    with pytest.raises(ServiceConfigError, match=r"md_sender \(from --md-sender\): must differ"):
        settings(["--md-sender", "CLIENT"])
    with pytest.raises(ServiceConfigError, match=r"target \(from env RLEXEC_TARGET\): equals md_s"):
        settings([], {"RLEXEC_TARGET": "CLIENT-MD"})
    with pytest.raises(ServiceConfigError, match=r"target: equals sender \('VENUE'\)"):
        settings([], {"RLEXEC_SENDER": "VENUE"})  # the default target: the sender is named


def test_state_urls_and_addresses() -> None:
    for url in ("memory", "redis://127.0.0.1:6379/14", "rediss://h:1", "unix:///tmp/r.sock"):
        assert settings(["--state", url]).state == url
    s = settings(["--api", "[::1]:0", "--venue", "venue.example:1"])
    assert (s.api_host, s.api_port, s.venue_host, s.venue_port) == ("::1", 0, "venue.example", 1)


def test_parents_from_flags_file_and_env(tmp_path: Path) -> None:
    s = settings(
        ["--symbols", "AAPL,MSFT", "--parent", "buy 30000 AAPL 600s", "--parent", "sell 5 MSFT 1h"]
    )
    assert [(p.symbol, p.side, p.quantity, p.horizon_s, p.algo) for p in s.parents] == [
        ("AAPL", "buy", 30_000, 600.0, "rl"),
        ("MSFT", "sell", 5, 3600.0, "rl"),
    ]
    config = write(
        tmp_path,
        '[service]\nparents = [{symbol = "AAPL", side = "buy", quantity = 10, horizon_s = 60, '
        'algo = "twap"}, "sell 10 AAPL 2m vwap"]\n',
    )
    s = settings(["--config", str(config)])
    assert [p.algo for p in s.parents] == ["twap", "vwap"]
    s = settings([], {"RLEXEC_PARENTS": '[{"symbol": "A", "side": "sell", "quantity": 1, '
                                         '"horizon_s": 1}, "buy 2 B 3s"]'})  # fmt: skip
    assert [p.symbol for p in s.parents] == ["A", "B"]
    assert s.all_symbols == ("A", "B")


def test_parents_must_fit_the_symbols_and_have_distinct_ids() -> None:
    with pytest.raises(ServiceConfigError, match=r"parents \(from --parent\): MSFT is not among"):
        settings(["--symbols", "AAPL", "--parent", "buy 1 MSFT 1s"])
    with pytest.raises(ServiceConfigError, match="client id 'x' is used twice"):
        settings(["--parent", "buy 1 A 1s id=x", "--parent", "buy 1 A 1s id=x"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("buy 30000 AAPL 600s rl", {"side": "buy", "quantity": 30_000, "horizon_s": 600.0}),
        ("SELL 30_000 AAPL 10m twap", {"side": "sell", "quantity": 30_000, "algo": "twap"}),
        ("buy 1 brk.b 1.5h", {"symbol": "brk.b", "horizon_s": 5400.0, "algo": "rl"}),
        (
            "buy 30000 AAPL 600s rl limit=585.5 pov=0.1 id=abc",
            {"limit_price": 585.5, "max_participation": 0.1, "client_id": "abc"},
        ),
        ("buy 10 AAPL 600s pov=1", {"max_participation": 1.0, "algo": "rl"}),
    ],
)
def test_parent_option_parses(text: str, expected: dict[str, Any]) -> None:
    spec = parse_parent_option(text)
    for key, value in expected.items():
        assert getattr(spec, key) == value


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("buy 30000 AAPL", "'buy 30000 AAPL'"),
        ("hold 30000 AAPL 600s", "'hold'"),
        ("buy 30k AAPL 600s", "'30k'"),
        ("buy 0 AAPL 600s", "'0'"),
        ("buy 10 AAPL 600", "'600'"),
        ("buy 10 AAPL 10d", "'10d'"),
        ("buy 10 AAPL 10s smart", "'smart'"),
        ("buy 10 AAPL 10s limit=0", "'limit=0'"),
        ("buy 10 AAPL 10s limit=abc", "'limit=abc'"),
        ("buy 10 AAPL 10s pov=1.5", "'pov=1.5'"),
        ("buy 10 AAPL 10s pov=0", "'pov=0'"),
        ("buy 10 AAPL 10s size=3", "'size=3'"),
        ("buy 10 AAPL 10s id=a id=b", "'id=b'"),
        ("buy 10 AAPL 10s id=", "'id='"),
        ("buy 10 AAPL 10s limit=1 twap", "'twap'"),
    ],
)
def test_a_bad_parent_option_names_the_bad_word(text: str, word: str) -> None:
    with pytest.raises(ValueError, match=word.replace(".", r"\.").replace("[", r"\[")):
        parse_parent_option(text)


@given(
    side=st.sampled_from(["buy", "sell"]),
    quantity=st.integers(1, 10**9),
    symbol=st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,7}", fullmatch=True),
    seconds=st.integers(1, 10**6),
    unit=st.sampled_from(["s", "m", "h"]),
    algo=st.sampled_from(
        ["rl", "twap", "twap_inside", "passive_first", "vwap", "pov", "ac", "ac_neutral", "sal"]
    ),
    limit=st.none() | st.floats(0.01, 1e6),
    pov=st.none() | st.floats(0.001, 1.0),
)
def test_parent_option_round_trips(
    side: str,
    quantity: int,
    symbol: str,
    seconds: int,
    unit: str,
    algo: str,
    limit: float | None,
    pov: float | None,
) -> None:
    assume(seconds * {"s": 1, "m": 60, "h": 3600}[unit] <= MAX_HORIZON_S)
    words = [side, str(quantity), symbol, f"{seconds}{unit}", algo]
    words += [f"limit={limit!r}"] if limit is not None else []
    words += [f"pov={pov!r}"] if pov is not None else []
    spec = parse_parent_option(" ".join(words))
    assert spec == ParentSpec(
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        quantity=quantity,
        horizon_s=seconds * {"s": 1, "m": 60, "h": 3600}[unit],
        algo=algo,  # type: ignore[arg-type]
        limit_price=limit,
        max_participation=pov,
    )


# -- risk limits -------------------------------------------------------------------------------


def test_default_limits_are_the_stated_ones_and_work_in_the_overlay() -> None:
    lim = default_limits(["AAPL", "MSFT"])
    assert isinstance(lim, RiskLimits) and set(lim.symbols) == {"AAPL", "MSFT"}
    aapl = lim.symbols["AAPL"]
    assert (aapl.max_order_qty, aapl.max_order_notional) == (10_000, 10_000_000.0)
    assert (aapl.max_long_position, aapl.max_short_position) == (100_000, 100_000)
    assert (lim.max_gross_position, lim.max_daily_loss) == (200_000, 250_000.0)
    assert (lim.max_working_orders, lim.max_orders_per_s, lim.max_messages_per_s) == (200, 50, 200)
    assert (lim.price_collar_bps, lim.max_reference_age_ms) == (100.0, 5_000)
    assert (lim.max_fills, lim.fill_window_ms) == (400, 10_000)
    window = lim.trading_window
    assert (window.start, window.end, window.tz) == (time(9, 30), time(16), "America/New_York")
    assert RiskLimits.model_validate(lim.model_dump()) == lim
    RiskOverlay(lim)  # the overlay accepts them
    with pytest.raises(ServiceConfigError, match="no symbols to trade"):
        default_limits([])


def test_the_service_picks_its_limits(tmp_path: Path) -> None:
    assert set(settings(["--symbols", "AAPL"]).risk_limits().symbols) == {"AAPL"}
    risk = tmp_path / "risk.toml"
    risk.write_text(
        "[risk]\nmax_gross_position = 10\nmax_daily_loss = 1.0\n"
        "[risk.symbols.AAPL]\nmax_position = 5\nmax_order_qty = 5\nmax_order_notional = 9.0\n",
        encoding="utf-8",
    )
    s = settings(["--symbols", "AAPL", "--risk-config", str(risk)])
    assert s.risk_limits(environ={}).max_gross_position == 10
    assert s.risk_limits(environ={"RLEXEC_RISK_MAX_GROSS_POSITION": "3"}).max_gross_position == 3
    with pytest.raises(RiskConfigError, match=r"\(from env RLEXEC_RISK_MAX_DAILY_LOSS\)"):
        s.risk_limits(environ={"RLEXEC_RISK_MAX_DAILY_LOSS": "-1"})
    s = settings(["--symbols", "AAPL,MSFT", "--risk-config", str(risk)])
    with pytest.raises(ServiceConfigError, match="MSFT not allowed by the risk limits"):
        s.risk_limits(environ={})
    with pytest.raises(ServiceConfigError, match="no symbols"):
        settings([]).risk_limits()


@pytest.mark.parametrize(
    ("words", "key"),
    [
        ("buy 100 AAPL 25h twap", "horizon_s"),
        ("buy 1000000001 AAPL 10m twap", "quantity"),
        ("buy 100 AAPL 10m twap id=" + "x" * 65, "client_id"),
    ],
)
def test_a_parent_beyond_the_sanity_bounds_is_refused_naming_the_key(words: str, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        parse_parent_option(words)


def test_risk_variables_apply_over_the_default_limits() -> None:
    """With no risk file the stated defaults stand, and RLEXEC_RISK_* still apply over them
    (they used to be ignored without `--risk-config`)."""
    env = {"RLEXEC_RISK_MAX_DAILY_LOSS": "1000", "RLEXEC_RISK_SYMBOLS__AAPL__MAX_ORDER_QTY": "500"}
    limits, plain = default_limits(["AAPL", "MSFT"], env=env), default_limits(["AAPL", "MSFT"])
    assert (limits.max_daily_loss, plain.max_daily_loss) == (1000.0, 250_000.0)
    assert limits.symbols["AAPL"].max_order_qty == 500
    assert limits.symbols["AAPL"].max_long_position == plain.symbols["AAPL"].max_long_position
    assert limits.symbols["MSFT"] == plain.symbols["MSFT"]
    with pytest.raises(
        RlexecError, match=r"max_daily_loss \(from env RLEXEC_RISK_MAX_DAILY_LOSS\)"
    ):
        default_limits(["AAPL"], env={"RLEXEC_RISK_MAX_DAILY_LOSS": "abc"})


@pytest.mark.parametrize(("value", "words"), [("-1", "greater than or equal to 0"),
                                              ("3651", "less than or equal to 3650"),
                                              ("7.5", "valid integer")])  # fmt: skip
def test_the_archive_retention_is_a_whole_number_of_days(value: str, words: str) -> None:
    env = {"RLEXEC_STATE_ARCHIVE_DAYS": value}
    with pytest.raises(ServiceConfigError) as info:
        settings([], env)
    assert (info.value.key, info.value.source) == (
        "state_archive_days", "env RLEXEC_STATE_ARCHIVE_DAYS",
    )  # fmt: skip
    assert words in info.value.reason
    assert settings([], {"RLEXEC_STATE_ARCHIVE_DAYS": "0"}).state_archive_days == 0
    assert settings([], {}).state_archive_days == 30
