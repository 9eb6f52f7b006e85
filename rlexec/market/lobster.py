"""LOBSTER message/orderbook pairs: a streaming reader for replay and a numpy loader for bulk work.

LOBSTER (lobsterdata.com) rebuilds Nasdaq TotalView-ITCH into two CSV files per ticker
and depth: messages (time, type, order id, size, price, direction) and the book after
each message (ask px, ask sz, bid px, bid sz per level). Files may be plain or gzip.
Every problem is reported as a `DataError` naming the file and line.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import BinaryIO, NamedTuple, cast

import numpy as np
import numpy.typing as npt

from rlexec.market.errors import DataError

# Event types as LOBSTER numbers them.
SUBMIT = 1
CANCEL = 2  # partial cancellation
DELETE = 3
EXECUTE = 4  # execution of a visible order
EXECUTE_HIDDEN = 5  # execution of a hidden order; order id is 0 and the book is unchanged
CROSS = 6  # auction cross
HALT = 7  # trading-halt indicator (price -1 halt, 0 quote, 1 resume)
EVENT_TYPES = frozenset({SUBMIT, CANCEL, DELETE, EXECUTE, EXECUTE_HIDDEN, CROSS, HALT})

MESSAGE_COLUMNS = ("time", "type", "order_id", "size", "price", "direction")
_CHUNK = 1 << 20
_NAME = re.compile(
    r"^(?P<symbol>[A-Za-z0-9.\-]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
    r"(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv(?:\.gz)?$"
)


class LobsterRow(NamedTuple):
    """One message and the book after it."""

    ts_ns: int
    event_type: int
    order_id: int
    size: int
    price: int
    direction: int
    book: tuple[int, ...]
    """ask px 1, ask sz 1, bid px 1, bid sz 1, ask px 2, ... for each stored level."""


@dataclass(frozen=True, slots=True)
class LobsterName:
    symbol: str
    date: str
    start_ms: int
    end_ms: int
    kind: str
    levels: int

    @classmethod
    def parse(cls, path: Path) -> LobsterName | None:
        m = _NAME.match(path.name)
        if m is None:
            return None
        return cls(
            m["symbol"], m["date"], int(m["start"]), int(m["end"]), m["kind"], int(m["levels"])
        )


@dataclass(frozen=True, slots=True)
class LobsterPair:
    """A message file and its orderbook file, checked to belong together."""

    message: Path
    orderbook: Path
    levels: int
    symbol: str

    @classmethod
    def from_message(
        cls, message: str | Path, orderbook: str | Path | None = None, levels: int | None = None
    ) -> LobsterPair:
        """Pair a message file with its orderbook file (found beside it by name unless given)."""
        message = Path(message)
        if not message.is_file():
            raise DataError(str(message), "no such file")
        m_name = LobsterName.parse(message)
        if orderbook is None:
            orderbook = _find_orderbook(message)
        orderbook = Path(orderbook)
        if not orderbook.is_file():
            raise DataError(str(orderbook), "no such file")
        o_name = LobsterName.parse(orderbook)
        if m_name and m_name.kind != "message":
            raise DataError(str(message), "this is an orderbook file; pass the message file")
        if m_name and o_name:
            for field in ("symbol", "date", "start_ms", "end_ms", "levels"):
                mv, ov = getattr(m_name, field), getattr(o_name, field)
                if mv != ov:
                    raise DataError(
                        str(orderbook),
                        f"does not pair with {message.name}: {field} is {ov!r} here "
                        f"but {mv!r} in the message file",
                    )
        named = m_name or o_name
        named_levels = named.levels if named else None
        width = _first_row_width(orderbook)
        if width % 4:
            raise DataError(
                str(orderbook), f"has {width} columns; an orderbook row has 4 per level", line=1
            )
        if levels is None:
            levels = named_levels or width // 4
        if width != 4 * levels:
            raise DataError(
                str(orderbook),
                f"has {width} columns but level {levels} needs {4 * levels}",
                line=1,
            )
        symbol = named.symbol if named else message.name.split("_")[0]
        return cls(message, orderbook, levels, symbol)

    def rows(self) -> Iterator[LobsterRow]:
        return iter_rows(self)

    def load(self) -> LobsterArrays:
        return load_arrays(self)


def _find_orderbook(message: Path) -> Path:
    name = message.name
    if "_message_" not in name:
        raise DataError(
            str(message), "cannot find its orderbook file: the name has no '_message_' (pass it)"
        )
    base = name.replace("_message_", "_orderbook_")
    stem = base.removesuffix(".gz")
    for candidate in (base, stem, stem + ".gz"):
        path = message.with_name(candidate)
        if path.is_file():
            return path
    raise DataError(str(message), f"no orderbook file beside it (expected {base})")


def _open(path: Path) -> BinaryIO:
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))
    return raw


def _read_chunks(path: Path) -> Iterator[bytes]:
    try:
        with _open(path) as f:
            while chunk := f.read(_CHUNK):
                yield chunk
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(str(path), f"corrupt or truncated gzip ({exc})") from None
    except OSError as exc:
        raise DataError(str(path), exc.strerror or str(exc)) from None


def _iter_lines(path: Path) -> Iterator[bytes]:
    """Lines without their terminator, read a megabyte at a time (much faster than readline)."""
    tail = b""
    for chunk in _read_chunks(path):
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        yield from lines
    if tail.strip():
        yield tail


def _first_row_width(path: Path) -> int:
    for line in _iter_lines(path):
        return len(line.split(b","))
    raise DataError(str(path), "is empty")


def _time_ns(text: bytes) -> int:
    """Seconds after midnight with up to 9 decimals, exactly, as integer nanoseconds."""
    sec, _, frac = text.partition(b".")
    if len(frac) > 9:
        raise ValueError("more than 9 decimals")
    return int(sec) * 1_000_000_000 + (int(frac.ljust(9, b"0")) if frac else 0)


def iter_rows(pair: LobsterPair) -> Iterator[LobsterRow]:
    """Stream the pair row by row, validating as it goes."""
    msg_path, book_path = str(pair.message), str(pair.orderbook)
    width = 4 * pair.levels
    last_ts = -1
    lineno = 0
    pairs = zip_longest(_iter_lines(pair.message), _iter_lines(pair.orderbook))
    for lineno, (mline, bline) in enumerate(pairs, 1):
        if mline is None or bline is None:
            shorter = msg_path if mline is None else book_path
            raise DataError(
                shorter, f"ends at row {lineno - 1} but its pair file goes on (row counts differ)"
            )
        f = mline.split(b",")
        if len(f) != 6:
            raise DataError(msg_path, f"has {len(f)} columns, a message row has 6", lineno)
        try:
            ts = _time_ns(f[0])
            etype, oid, size, price, direction = (
                int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]),
            )  # fmt: skip
        except ValueError:
            raise DataError(msg_path, _bad_field(f), lineno) from None
        b = bline.split(b",")
        if len(b) != width:
            raise DataError(
                book_path,
                f"has {len(b)} columns but level {pair.levels} needs {width}",
                lineno,
            )
        try:
            book = tuple(map(int, b))
        except ValueError:
            raise DataError(book_path, "unparseable integer in the orderbook row", lineno) from None
        if ts < last_ts:
            raise DataError(
                msg_path, f"time goes backwards ({f[0].decode()} after previous row)", lineno
            )
        if etype not in EVENT_TYPES:
            raise DataError(msg_path, f"unknown event type {etype} (LOBSTER has 1..7)", lineno)
        if direction != 1 and direction != -1:
            raise DataError(msg_path, f"direction must be 1 or -1, got {direction}", lineno)
        last_ts = ts
        yield LobsterRow(ts, etype, oid, size, price, direction, book)
    if lineno == 0:
        raise DataError(msg_path, "is empty")


def _bad_field(fields: list[bytes]) -> str:
    for name, value in zip(MESSAGE_COLUMNS, fields, strict=True):
        try:
            _time_ns(value) if name == "time" else int(value)
        except ValueError:
            shown = value.decode(errors="replace")
            return f"column {name!r} is not a valid {'time' if name == 'time' else 'integer'}: {shown!r}"
    return "unparseable row"


class LobsterArrays(NamedTuple):
    """A whole pair as column arrays, for vectorised work (profiles, estimation, training)."""

    ts_ns: npt.NDArray[np.int64]
    event_type: npt.NDArray[np.int8]
    order_id: npt.NDArray[np.int64]
    size: npt.NDArray[np.int64]
    price: npt.NDArray[np.int64]
    direction: npt.NDArray[np.int8]
    book: npt.NDArray[np.int64]
    """shape (rows, 4 × levels)."""

    @property
    def rows(self) -> int:
        return int(self.ts_ns.shape[0])


def _read_all(path: Path) -> bytes:
    return b"".join(_read_chunks(path))


def load_arrays(pair: LobsterPair) -> LobsterArrays:
    """Load the whole pair with numpy's C parsers; on any anomaly, the streaming reader finds
    and names the exact line, so both paths give the same errors."""
    try:
        msg = _split_numeric(_read_all(pair.message), 6)
        book = _split_numeric(_read_all(pair.orderbook), 4 * pair.levels)
        if msg is None or book is None or msg.shape[0] != book.shape[0]:
            raise ValueError
        ts = np.rint(msg[:, 0].astype(np.float64) * 1e9).astype(np.int64)
        ints = msg[:, 1:].astype(np.int64)
        book_i = book.astype(np.int64)
        if (np.diff(ts) < 0).any() or not np.isin(ints[:, 0], list(EVENT_TYPES)).all():
            raise ValueError
        if not np.isin(ints[:, 4], (1, -1)).all():
            raise ValueError
    except ValueError:
        for _ in iter_rows(pair):  # raises the precise DataError
            pass
        raise DataError(str(pair.message), "inconsistent pair (unreported anomaly)") from None
    return LobsterArrays(
        ts, ints[:, 0].astype(np.int8), ints[:, 1], ints[:, 2], ints[:, 3],
        ints[:, 4].astype(np.int8), book_i,
    )  # fmt: skip


def _split_numeric(data: bytes, columns: int) -> npt.NDArray[np.bytes_] | None:
    lines = data.rstrip(b"\n").split(b"\n")
    cells = b",".join(lines).split(b",")
    if len(cells) != columns * len(lines):
        return None
    return np.array(cells, dtype=np.bytes_).reshape(len(lines), columns)
