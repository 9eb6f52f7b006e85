"""Write small LOBSTER pairs for tests: good ones to build on, and each kind of broken one."""

from __future__ import annotations

import gzip
from pathlib import Path

MESSAGES = [
    "34200.004241176,1,16113575,18,5853300,1",
    "34200.025552913,1,16120456,18,5859100,-1",
    "34200.201743669,3,16120456,18,5859100,-1",
    "34200.201781,5,0,100,5855000,-1",
    "34200.201781,4,16113575,18,5853300,1",
]
BOOKS = [
    "9999999999,0,5853300,18",
    "5859100,18,5853300,18",
    "9999999999,0,5853300,18",
    "9999999999,0,5853300,18",
    "9999999999,0,-9999999999,0",
]


def write_pair(
    folder: Path,
    messages: list[str] | None = None,
    books: list[str] | None = None,
    symbol: str = "TEST",
    levels: int = 1,
    gz: bool = False,
) -> Path:
    """Write a pair named as LOBSTER names them; returns the message file's path."""
    suffix = ".csv.gz" if gz else ".csv"
    base = f"{symbol}_2012-06-21_34200000_57600000"
    msg = folder / f"{base}_message_{levels}{suffix}"
    book = folder / f"{base}_orderbook_{levels}{suffix}"
    for path, lines in ((msg, messages or MESSAGES), (book, books or BOOKS)):
        data = ("\n".join(lines) + "\n").encode()
        path.write_bytes(gzip.compress(data) if gz else data)
    return msg
