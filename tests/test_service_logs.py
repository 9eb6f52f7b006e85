"""Structured log lines through the real pipeline (queue handler → writer thread → JSON)."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from rlexec.service.logs import configure_logging


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream)
    yield logging.getLogger("rlexec.service"), stream
    for handler in list(logging.getLogger("rlexec").handlers):
        logging.getLogger("rlexec").removeHandler(handler)


def _read(stream: io.StringIO, n: int) -> list[dict[str, str]]:
    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_value_cannot_rewrite_the_lines_own_fields(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = lines
    who = "mallory level=debug logger=fake event=forged from=ACTIVE"
    log.warning("event=kill_switch from=%s to=%s who=%s why=%r", "HALTED", "ACTIVE", who, "x ts=1")
    (line,) = _read(stream, 1)
    assert (line["level"], line["logger"], line["event"]) == (
        "warning",
        "rlexec.service",
        "kill_switch",
    )
    assert line["from"] == "HALTED" and line["ts"].endswith("Z")


def test_a_traceback_is_kept_whole_in_exc(lines: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = lines
    missing: dict[str, int] = {}
    try:
        missing["why, symbols"]
    except KeyError:
        log.exception("event=api_error error_id=%s method=%s", "abc123", "POST")
    (line,) = _read(stream, 1)
    assert (line["event"], line["error_id"], line["method"]) == ("api_error", "abc123", "POST")
    assert "Traceback" in line["exc"] and "KeyError: 'why, symbols'" in line["exc"]
    assert "why" not in line and "symbols" not in line  # the traceback's words are not fields
