"""The daily trading window as epoch-nanosecond bounds, recomputed once per local day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_NS = 1_000_000_000


def _epoch_ns(dt: datetime) -> int:
    return int((dt - _EPOCH) // timedelta(microseconds=1)) * 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))


class DailyWindow:
    """`contains(now_ns)` for a [start, end) local-time window that repeats every day.

    The bounds of the current local day are cached as integers, so the common case is two
    integer comparisons; a new day (or a clock that jumps) recomputes them once.
    """

    __slots__ = ("_day_hi", "_day_lo", "_end", "_start", "_tz", "hi", "lo")

    def __init__(self, start: time, end: time, tz: str) -> None:
        self._start = start
        self._end = end
        self._tz = ZoneInfo(tz)
        self._day_lo = 0
        self._day_hi = 0  # empty: the first call computes
        self.lo = 0
        self.hi = 0

    def contains(self, now_ns: int) -> bool:
        if self.lo <= now_ns < self.hi:
            return True
        if not (self._day_lo <= now_ns < self._day_hi):
            self._recompute(now_ns)
        return self.lo <= now_ns < self.hi

    def _recompute(self, now_ns: int) -> None:
        local = datetime.fromtimestamp(now_ns // _NS, self._tz)
        day = local.date()
        tz = self._tz
        self._day_lo = _epoch_ns(datetime.combine(day, time(0), tzinfo=tz))
        self._day_hi = _epoch_ns(datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz))
        self.lo = _epoch_ns(datetime.combine(day, self._start, tzinfo=tz))
        self.hi = _epoch_ns(datetime.combine(day, self._end, tzinfo=tz))

    def describe(self) -> str:
        return f"{self._start.isoformat()}–{self._end.isoformat()} {self._tz.key}"


def day_start_ns(day: date, tz: str) -> int:
    """Epoch ns of `day`'s local midnight in `tz`."""
    return _epoch_ns(datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)))


def local_day(now_ns: int, tz: str) -> tuple[date, int]:
    """The calendar date at `now_ns` in `tz`, and the epoch ns at which the next one begins
    (local midnight, so a 23- or 25-hour day around a clock change is one day)."""
    zone = ZoneInfo(tz)
    day = datetime.fromtimestamp(now_ns // _NS, zone).date()
    return day, _epoch_ns(datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone))
