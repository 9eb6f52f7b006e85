"""Every input the fuzzers ever crashed on, replayed as a normal test; plus the seeds.

A crash the fuzzers find (atheris writes `crash-<sha1>`) is fixed, then moved
here under a name that says what it was, so that it can never come back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from rlexec.gateway.codec import encode_fields
from rlexec.simulator.data import ReplayData
from rlexec.simulator.venue import Venue
from rlexec.simulator.venue_config import VenueConfig
from tests.fuzz.harness import check_codec, check_session
from tests.fuzz.test_venue_mutations import VALID, _answer, _client, _inbound

CORPUS = Path(__file__).resolve().parent / "corpus"


def _cases(kind: str) -> list[object]:
    files = (
        sorted((CORPUS / kind).glob("*/*"))
        if kind != "venue"
        else sorted((CORPUS / kind).glob("*.json"))
    )
    return [
        pytest.param(path, id=f"{path.parent.name}/{path.name}") for path in files if path.is_file()
    ]


@pytest.mark.parametrize("path", _cases("codec"))
def test_codec_corpus(path: Path) -> None:
    check_codec(path.read_bytes())


@pytest.mark.parametrize("path", _cases("session"))
def test_session_corpus(path: Path) -> None:
    check_session(path.read_bytes())


def test_the_session_harness_puts_rlexec_s_logging_back() -> None:
    """It quiets rlexec to ERROR while a corpus file runs; left so, every later test's caplog
    missed rlexec's INFO and WARNING records (the full suite only, so it hid for a while)."""
    ours, root = logging.getLogger("rlexec"), logging.getLogger()
    before, handlers = ours.level, list(root.handlers)
    check_session(next(iter(sorted((CORPUS / "session").glob("*/*")))).read_bytes())
    assert ours.level == before
    assert root.handlers == handlers


def test_the_corpus_holds_the_known_crashes() -> None:
    names = {p.name for p in CORPUS.glob("*/*/*")} | {p.name for p in CORPUS.glob("venue/*")}
    assert "huge-msg-seq-num" in names and "huge-order-qty.json" in names


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


@pytest.mark.parametrize("path", _cases("venue"))
def test_venue_corpus(aapl: ReplayData, path: Path) -> None:
    asyncio.run(_venue_case(aapl, json.loads(path.read_text())))


async def _venue_case(aapl: ReplayData, case: dict[str, Any]) -> None:
    fields = [(int(tag), value.encode()) for tag, value in case["fields"]]
    config = VenueConfig.model_validate(
        {"data": "unused", "port": 0, "autoplay": False, "start": "10:00",
         "clients": [{"comp_id": "FUZZ"}]}
    )  # fmt: skip
    venue = Venue(config, aapl)
    await venue.start()
    try:
        session, initiator = await _client(venue, "FUZZ")
        before = _inbound(session)
        session.send(case["msg_type"].encode(), encode_fields(fields))
        await _answer(session, before)
        assert session.is_logged_on, "the venue dropped the connection instead of answering"
        session.send(b"D", encode_fields(VALID[b"D"]))  # and it still trades
        before = _inbound(session)
        await _answer(session, before)
        await initiator.stop(grace=0.5)
    finally:
        await venue.stop(grace=0.5)
