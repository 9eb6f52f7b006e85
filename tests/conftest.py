"""Shared fixtures: the real LOBSTER sample data and a real Redis database reserved for tests."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rlexec import native
from rlexec.gateway import eventloop

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("RLEXEC_DATA_DIR", REPO.parent / "shared" / "data" / "lobster"))
REDIS_URL = os.environ.get("RLEXEC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

AAPL_1 = "AAPL_2012-06-21_34200000_57600000_message_1.csv.gz"
AMZN_1 = "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz"
AMZN_5 = "AMZN_2012-06-21_34200000_57600000_message_5.csv.gz"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Tests of a stale mypyc build would test the code before the edit: refuse to run them."""
    for name in native.MODULES:
        importlib.import_module(name)
    if stale := native.stale():
        pytest.exit(
            f"compiled modules older than their source: {', '.join(stale)}; rebuild with "
            "`make test` (or `.venv/bin/python setup.py build_ext --inplace`)",
            returncode=4,
        )


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Async tests run on the loop rlexec runs on in production (uvloop where installed)."""
    return {eventloop.loop_name(): eventloop.loop_factory()}


@pytest.fixture(autouse=True)
def _rlexec_logging_restored() -> Iterator[None]:
    """A test that configures rlexec's logging (the demo sets ERROR, `serve` its own level and
    handler) leaves it as it found it, so a later test's caplog sees every record."""
    logger = logging.getLogger("rlexec")
    level, propagate, handlers = logger.level, logger.propagate, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.propagate = propagate
    logger.handlers[:] = handlers


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        raise RuntimeError(f"LOBSTER sample data not found at {DATA_DIR} (set RLEXEC_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def aapl_message(data_dir: Path) -> Path:
    return data_dir / AAPL_1


@pytest.fixture(scope="session")
def amzn5_message(data_dir: Path) -> Path:
    return data_dir / AMZN_5


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A dedicated Redis database (index 15 by default), emptied before and after each test."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()
