"""Venue settings through the shared loader: file (TOML/JSON) < flags; errors name key and source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlexec.market.errors import RlexecError
from rlexec.market.settings import SettingsError
from rlexec.simulator.venue_config import VenueConfig, VenueConfigError, load_venue_config

TOML = """
data = "aapl.csv"
port = 9999
comp_id = "VENUE2"
speed = 5.0

[[clients]]
comp_id = "ALPHA"
password = "pw"

[[clients]]
comp_id = "BETA"
faults = { reply_delay_s = 0.5 }

[replay]
tick_size = 100
depth = { gap_ticks = 3 }
"""


def write(tmp_path: Path, text: str, name: str = "venue.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def venue_error(path: Path | None, **overrides: Any) -> VenueConfigError:
    with pytest.raises(VenueConfigError) as info:
        load_venue_config(path, overrides)
    assert isinstance(info.value, SettingsError) and isinstance(info.value, RlexecError)
    return info.value


def test_a_toml_file_loads(tmp_path: Path) -> None:
    cfg = load_venue_config(write(tmp_path, TOML), {})
    assert type(cfg) is VenueConfig
    assert (cfg.port, cfg.comp_id, cfg.speed, cfg.host) == (9999, "VENUE2", 5.0, "127.0.0.1")
    assert [c.comp_id for c in cfg.clients] == ["ALPHA", "BETA"]
    assert cfg.clients[1].faults.reply_delay_s == 0.5
    assert cfg.replay.depth.gap_ticks == 3
    assert cfg.data == Path("aapl.csv")


def test_a_json_file_loads_the_same(tmp_path: Path) -> None:
    toml_cfg = load_venue_config(write(tmp_path, TOML), {})
    json_path = write(tmp_path, json.dumps(toml_cfg.model_dump(mode="json")), "venue.json")
    assert load_venue_config(json_path, {}) == toml_cfg


def test_flags_override_the_file_and_none_means_not_given(tmp_path: Path) -> None:
    cfg = load_venue_config(write(tmp_path, TOML), {"port": 7000, "speed": None, "host": None})
    assert cfg.port == 7000
    assert cfg.speed == 5.0
    assert cfg.host == "127.0.0.1"


def test_flags_alone_need_no_file() -> None:
    cfg = load_venue_config(None, {"data": "x.csv", "port": 0})
    assert cfg.port == 0 and cfg.clients[0].comp_id == "CLIENT"


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (("port = 9999", "port = 70000"), "port", "less than or equal to 65535"),
        (("speed = 5.0", "speed = -1"), "speed", "greater than or equal to 0"),
        (("speed = 5.0", "sped = 1"), "sped", "unknown key"),
        (('comp_id = "ALPHA"', 'comp_id = "AL PHA"'), "clients.0.comp_id", "without spaces"),
        (('comp_id = "BETA"', 'comp_id = "ALPHA"'), "clients", "'ALPHA' is listed twice"),
        (('comp_id = "BETA"', 'comp_id = "VENUE2"'), "clients", "the venue's own comp id"),
        (("reply_delay_s = 0.5", "reply_delay_s = 99"), "clients.1.faults.reply_delay_s", "60"),
        (("gap_ticks = 3", "gap_tick = 3"), "replay.depth.gap_tick", "unknown key"),
        (('data = "aapl.csv"', ""), "data", "missing"),
    ],
)
def test_a_bad_file_value_names_the_key_and_the_file(
    tmp_path: Path, change: tuple[str, str], key: str, reason: str
) -> None:
    path = write(tmp_path, TOML.replace(*change))
    err = venue_error(path)
    assert err.key == key, str(err)
    assert reason in err.reason
    if key != "data":  # a missing key has no source
        assert err.source == str(path)
        assert str(err).startswith(f"venue config: {key} (from {path}): ")


def test_a_bad_flag_names_the_flag(tmp_path: Path) -> None:
    err = venue_error(write(tmp_path, TOML), port=-1)
    assert (err.key, err.source) == ("port", "--port")
    assert str(err) == (
        "venue config: port (from --port): Input should be greater than or equal to 0 (got -1)"
    )
    err = venue_error(None, data="x.csv", comp_id="A B")
    assert (err.key, err.source) == ("comp_id", "--comp-id")


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    err = venue_error(tmp_path / "nope.toml")
    assert str(err) == f"venue config: {tmp_path / 'nope.toml'}: config file not found"
    err = venue_error(write(tmp_path, "port = \n"))
    assert "not valid TOML" in err.reason and "line 1" in err.reason
    path = write(tmp_path, '{"port": 1,\n "data": }', "venue.json")
    err = venue_error(path)
    assert err.key == f"{path}:2" and "not valid JSON" in err.reason
    err = venue_error(write(tmp_path, "[1, 2]", "list.json"))
    assert "top level must be a table" in err.reason


def test_a_start_after_the_data_ends_is_refused_naming_the_last_event(
    aapl_message: Path,
) -> None:
    """A start past the file's last event used to serve a closed market for ever."""
    from rlexec.simulator.data import ReplayData
    from rlexec.simulator.venue import Venue

    data = ReplayData.load(aapl_message)
    config = load_venue_config(None, {"data": str(aapl_message), "start": "17:00"})
    with pytest.raises(VenueConfigError) as info:
        Venue(config, data)
    assert info.value.key == "start"
    assert "17:00 is after the last event of the data (15:59:59 New York time" in str(info.value)
    late = load_venue_config(None, {"data": str(aapl_message), "start": "15:59"})
    assert Venue(late, data).replay is not None, "inside the data: accepted"
