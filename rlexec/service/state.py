"""The service's state store port: parents, child orders, fills, the kill switch and ClOrdID blocks.

Two backends pass one contract suite: `MemoryStateStore` (`state_memory`, the embedded
default and the demo) and `RedisStateStore` (`state_redis`, production). Both are the same
write-behind core (`state_writer.WriteBehindStore`) over a small backend.

**Write-behind, never on the hot path.** `put_parent`, `put_child`, `add_fill` and
`close_block` are synchronous: they update an in-memory mirror and append to a queue; the
background task `run()` writes the queue in order, in batches, each batch one transaction.
The queue is bounded by a setting; going over it calls `on_overflow(reason)`, which the
service wires to HALT trading, and keeps every record (the bound triggers the halt, it never
drops). Failed writes are retried with backoff and counted; the batch stays at the head.

**Durable before it matters.** Three things do not wait in the queue: a kill-switch save
(synchronous, acknowledged by the backend before `save` returns, so a loosening that cannot
be saved raises and the switch stays closed), a ClOrdID block reservation (`reserve_block`
increments the counter and records the block as open in one atomic step before any id of
it is handed out), and the FIX session stores, which have their own write-behind.

**What a crash can lose.** Whatever is still in the write-behind queue: at most the queue's
bound, in practice the last few milliseconds of parent progress, child-state changes and
fills. None of it is lost for good: fills and child states are the venue's to resend (FIX
resend of missed execution reports, OrderStatusRequest for every non-terminal child), and
parent progress is rebuilt from the children and their fills. **No order is lost**, even one
whose record had not reached the store when the process died: its ClOrdID came from a
block that was durably reserved, and stays open, before the id was used; a block is closed
only through the same ordered queue, behind the records of every id in it. On restart
`load()` returns the open blocks, and recovery asks the venue about every id in them that
no child record names (`ids_to_ask`), so an order the venue holds is found and adopted, never
orphaned; and since the counter only grows, no ClOrdID is ever reused.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rlexec.gateway.store import SessionStore
from rlexec.market.errors import RlexecError
from rlexec.risk.day import DayRecord
from rlexec.risk.killswitch import KillSwitchSnapshot, KillSwitchStore

__all__ = [
    "DEFAULT_SEQUENCE",
    "Archived",
    "Carry",
    "IdBlock",
    "OverflowCallback",
    "StateError",
    "StateStore",
    "StoredState",
    "block_ids",
    "ids_to_ask",
]

DEFAULT_SEQUENCE = "clordid"
"""The name of the ClOrdID counter (a store can hold several named counters)."""

Carry = tuple[int, float, int, float]
"""One symbol's fills moved to the archive, summed: (shares bought, their notional, shares
sold, their notional), notional in price units × shares. Positions and realised P&L are
rebuilt from these sums plus the children still stored, exactly as from all the children."""

OverflowCallback = Callable[[str], None]
"""Called (synchronously, once per episode) when the write-behind queue goes over its bound."""


class StateError(RlexecError):
    """The state store cannot do what was asked: unreachable, unreadable record, misuse."""


@dataclass(frozen=True, slots=True, order=True)
class IdBlock:
    """A reserved range of ids, start..end inclusive, of one named counter."""

    sequence: str
    start: int
    end: int

    @property
    def key(self) -> str:
        return f"{self.sequence}:{self.start}"

    def __len__(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True, slots=True)
class Archived:
    """What one `archive` call took out of the live state."""

    day: str
    parents: int
    children: int
    fills: int


@dataclass(frozen=True, slots=True)
class StoredState:
    """Everything the store held when it was loaded: the starting point of recovery."""

    parents: Mapping[str, dict[str, Any]]
    """Parent id → the service's parent record."""
    children: Mapping[str, dict[str, Any]]
    """Original ClOrdID → the OMS's `to_dict` record."""
    fills: Mapping[str, dict[str, Any]]
    """ExecID → fill record, in the order they were added."""
    kill: KillSwitchSnapshot | None
    """The kill switch as last saved; None if it was never saved."""
    id_blocks: tuple[IdBlock, ...]
    """Reserved blocks not yet closed, ascending: every id in them may be at the venue."""
    sequences: Mapping[str, int] = field(default_factory=dict)
    """Counter name → the highest id ever reserved (0 for none)."""
    day: DayRecord | None = None
    """The risk overlay's trading day and the P&L it counts from, as last written."""
    carry: Mapping[str, Carry] = field(default_factory=dict)
    """Symbol → the archived children's fills, summed (see `Carry`)."""
    limits: Mapping[str, Any] | None = None
    """The risk limits as a person last tightened them through the API, with the configured
    limits they were tightened from (`service.limits_state`); None if never tightened."""

    @property
    def exec_ids(self) -> frozenset[str]:
        return frozenset(self.fills)


class StateStore(Protocol):
    """The port the service writes its state through; see the module docstring."""

    @property
    def queue_depth(self) -> int:
        """Records waiting to be written (including a batch being retried)."""
        ...

    @property
    def errors(self) -> int:
        """Failed write attempts since start (each retry of a batch counts)."""
        ...

    @property
    def last_error(self) -> str | None: ...

    async def open(self) -> None:
        """Connect; raises StateError if the backend cannot be reached."""
        ...

    async def load(self) -> StoredState:
        """Read what is stored and seed the mirror; must precede every mutator."""
        ...

    def put_parent(self, parent_id: str, record: dict[str, Any]) -> None:
        """Enqueue the latest record of a parent (the store owns the dict from now on)."""
        ...

    def put_child(self, cl_ord_id: str, record: dict[str, Any]) -> None:
        """Enqueue the latest record of a child order, keyed by its original ClOrdID."""
        ...

    def add_fill(self, exec_id: str, record: dict[str, Any]) -> bool:
        """Enqueue a fill unless its ExecID is known (also from before a restart); True if new."""
        ...

    def put_day(self, record: DayRecord) -> None:
        """Enqueue the risk overlay's trading-day record (one per store, the latest wins)."""
        ...

    def put_limits(self, record: dict[str, Any]) -> None:
        """Enqueue the tightened risk limits' record (one per store, the latest wins)."""
        ...

    def close_block(self, block: IdBlock) -> None:
        """Enqueue closing an id block: written after every record enqueued before it."""
        ...

    def archive(
        self,
        day: str,
        parent_ids: Collection[str],
        child_ids: Collection[str],
        sequences: Collection[str],
        carry: Mapping[str, Carry],
    ) -> Archived:
        """Move finished parents, their children (original ClOrdIDs) and those children's
        fills out of the live state into the archive of `day` (YYYY-MM-DD), with a copy of
        the parents' id counters (`sequences`; the live counters stay, since a counter only
        ever grows) whose open blocks are closed, and make `carry` the stored sums of every
        archived fill: one transaction, written after every record enqueued before it. A
        record that is not JSON refuses the whole call, changing nothing. `load()` never reads
        the archive, so a restart reads only what is still live."""
        ...

    async def reserve_block(self, size: int, sequence: str = DEFAULT_SEQUENCE) -> tuple[int, int]:
        """Durably reserve `size` new ids (start, end inclusive) and record the block as open."""
        ...

    def snapshot(self) -> StoredState:
        """The mirror: what the store holds once the queue is written (`kill` is None here:
        the kill switch is read through `kill_switch_store()`)."""
        ...

    def kill_switch_store(self) -> KillSwitchStore:
        """risk's `KillSwitchStore`: synchronous load/save, a save durable before it returns."""
        ...

    def session_store(self, begin_string: str, sender: str, target: str) -> SessionStore:
        """The FIX session store for one session, in the same backend and namespace."""
        ...

    def healthy(self) -> tuple[bool, str]:
        """For /readyz: False while writes fail or the queue is over its bound, with why."""
        ...

    async def run(self) -> None:
        """The write-behind task: writes the queue in order until `close()`; never raises."""
        ...

    async def flush(self) -> None:
        """Write everything queued now; raises StateError (keeping the records) on failure."""
        ...

    async def close(self) -> None:
        """Flush and disconnect; raises StateError if records could not be written."""
        ...


def block_ids(prefix: str, block: IdBlock) -> Iterator[str]:
    """The ClOrdIDs of a block, as `ClOrdIdAllocator` formats them."""
    for n in range(block.start, block.end + 1):
        yield f"{prefix}{n}"


_CHILD_ID_FIELDS = ("cl_ord_id", "current_cl_ord_id", "pending_cl_ord_id")


def ids_to_ask(state: StoredState, prefix: str, sequence: str = DEFAULT_SEQUENCE) -> list[str]:
    """Ids of the open blocks that no child record names: recovery asks the venue about each
    (a child that is named is recovered from its record and a status request of its own)."""
    named = {
        value
        for record in state.children.values()
        for key in _CHILD_ID_FIELDS
        if isinstance(value := record.get(key), str)
    }
    return [
        cl_ord_id
        for block in state.id_blocks
        if block.sequence == sequence
        for cl_ord_id in block_ids(prefix, block)
        if cl_ord_id not in named
    ]
