"""ClOrdIDs from durably reserved blocks: handed out synchronously, never reused.

Each id comes from a block the store reserved (counter and open-block record written
atomically) before the first id of it was handed out, so a crash at any moment leaves every
id that may have reached the venue inside a block recovery knows about. The next block is
reserved in the background once fewer than `low_water` ids are left; if it is not there when
the current block runs out, `next()` raises `IdsExhausted` and the caller denies the order:
waiting would put a Redis round trip on the hot path, and reusing an id is never an option.
"""

from __future__ import annotations

import asyncio
import logging

from rlexec.market.errors import RlexecError
from rlexec.service.state import DEFAULT_SEQUENCE, IdBlock, StateError, StateStore

__all__ = ["ClOrdIdAllocator", "IdsExhausted"]

log = logging.getLogger("rlexec.service")


class IdsExhausted(RlexecError):  # noqa: N818 - the name the brief and callers use
    """No reserved ClOrdID is left: deny the order (the next block is on its way)."""


class ClOrdIdAllocator:
    """Ids `f"{prefix}{n}"` from blocks of `block` consecutive numbers of one store counter.

    A used-up block is closed through the store's ordered queue, behind the records the
    caller made for its ids; so call `next()` and record the order in one synchronous step
    (as `OrderGate` does), never with an await in between. `start()` reserves the first
    block; `retire()` closes the blocks at a clean shutdown, before the store's final flush.
    """

    def __init__(
        self,
        store: StateStore,
        prefix: str,
        *,
        block: int = 1000,
        low_water: int = 200,
        sequence: str = DEFAULT_SEQUENCE,
        retry_s: float = 0.5,
    ) -> None:
        if isinstance(block, bool) or not isinstance(block, int) or block < 1:
            raise StateError(f"ClOrdID block size must be a positive integer, got {block!r}")
        if (
            isinstance(low_water, bool)
            or not isinstance(low_water, int)
            or not 0 <= low_water < block
        ):
            raise StateError(
                f"ClOrdID low_water must be 0 <= low_water < block={block}, got {low_water!r}"
            )
        if not prefix.isascii() or not prefix.isprintable() or " " in prefix:
            raise StateError(
                f"ClOrdID prefix must be printable ASCII without spaces, got {prefix!r}"
            )
        self._store = store
        self.prefix = prefix
        self.block_size = block
        self.low_water = low_water
        self.sequence = sequence
        self._retry_s = retry_s
        self._current: IdBlock | None = None
        self._next = 0
        self._spare: IdBlock | None = None
        self._refill: asyncio.Task[None] | None = None
        self._refill_not_before = 0.0
        self.last_error: str | None = None

    @property
    def current(self) -> IdBlock | None:
        return self._current

    @property
    def remaining(self) -> int:
        """Ids that `next()` can hand out without waiting for a reservation."""
        here = 0 if self._current is None else self._current.end - self._next + 1
        return here + (len(self._spare) if self._spare is not None else 0)

    async def start(self) -> None:
        """Reserve the first block (raises StateError if the store cannot)."""
        self._current = await self._reserve()
        self._next = self._current.start

    def next(self) -> str:
        current = self._current
        if current is None:
            raise IdsExhausted("ClOrdID allocator not started")
        if self._next > current.end:
            spare = self._spare
            if spare is None:
                self._maybe_refill()
                raise IdsExhausted(
                    f"ClOrdID block {current.start}-{current.end} used up; the next block is "
                    f"not reserved yet ({self.last_error or 'reservation in flight'})"
                )
            self._store.close_block(current)
            self._current = current = spare
            self._spare = None
            self._next = current.start
        n = self._next
        self._next = n + 1
        if self._spare is None and current.end - n < self.low_water:
            self._maybe_refill()
        return f"{self.prefix}{n}"

    def retire(self) -> None:
        """Close the current and spare blocks: their unused ids are never handed out."""
        for block in (self._current, self._spare):
            if block is not None:
                self._store.close_block(block)
        self._current = self._spare = None
        if self._refill is not None:
            self._refill.cancel()

    # -- background reservation ------------------------------------------------------------

    def _maybe_refill(self) -> None:
        if self._refill is not None and not self._refill.done():
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._refill_not_before:
            return
        self._refill = loop.create_task(self._refill_spare())

    async def _refill_spare(self) -> None:
        try:
            block = await self._reserve()
        except StateError as exc:
            self.last_error = str(exc)
            self._refill_not_before = asyncio.get_running_loop().time() + self._retry_s
            log.error("event=clordid_reserve_failed sequence=%s error=%r", self.sequence, str(exc))
            return
        if self._current is None:  # retired meanwhile: never hand out its ids
            self._store.close_block(block)
            return
        self.last_error = None
        self._spare = block

    async def _reserve(self) -> IdBlock:
        start, end = await self._store.reserve_block(self.block_size, self.sequence)
        return IdBlock(self.sequence, start, end)
