"""Failed-logon lockout: after a run of failures, a CompID or a peer address is refused
without an answer for a while, so passwords cannot be guessed at wire speed."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Record:
    failures: int = 0
    locked_until: float = 0.0


class LogonGuard:
    """Counts failed logons per key ("comp:<CompID>", "peer:<host>") in a row.

    At `max_failures` the key is locked for `lockout_s`, doubling with each further
    failure up to 64 times that; a successful logon forgets the key. At most `max_keys`
    keys are remembered (the least recently failed are forgotten first), so an attacker
    cycling addresses cannot grow it without bound.
    """

    def __init__(self, max_failures: int, lockout_s: float, max_keys: int) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.max_keys = max_keys
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def locked_for(self, key: str, now: float) -> float:
        """Seconds the key stays locked out (0 when it may try)."""
        record = self._records.get(key)
        if record is None:
            return 0.0
        return max(0.0, record.locked_until - now)

    def failed(self, key: str, now: float) -> float:
        """Record a failure; the lockout it starts in seconds (0 if none yet)."""
        records = self._records
        record = records.get(key)
        if record is None:
            record = records[key] = _Record()
            while len(records) > self.max_keys:
                records.popitem(last=False)
        else:
            records.move_to_end(key)
        record.failures += 1
        over = record.failures - self.max_failures
        if over < 0:
            return 0.0
        lockout = self.lockout_s * float(1 << min(over, 6))
        record.locked_until = now + lockout
        return lockout

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)
