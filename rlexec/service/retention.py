"""What the live state keeps: parents and child orders that ended before today are archived.

Without a retention rule the state store grows for ever, and every restart reads (and
rebuilds an OMS from) every child order the service has ever sent. At the start and on each
new trading day, the service archives each parent that is over (COMPLETED, CANCELLED or
FAILED) and ended before the day began, together with its children, once every one of them
is terminal; children with no parent (adopted orders) go once terminal and untouched
since before the day. Their fills leave with them, summed per symbol into the store's
`carry`, so the positions and realised P&L rebuilt after a restart are what they were.

A parent or child that is still open on a later day stays live until it ends: nothing that
may still trade, or be reported on, is archived.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rlexec.market.orders import Side
from rlexec.service.oms import ChildOrder
from rlexec.service.parents import Parent
from rlexec.service.state import Carry

__all__ = ["Selection", "add_fills", "select"]


@dataclass(frozen=True, slots=True)
class Selection:
    parents: tuple[Parent, ...]
    children: tuple[ChildOrder, ...]


def select(parents: Iterable[Parent], children: Iterable[ChildOrder], before_ns: int) -> Selection:
    """The parents over before `before_ns` whose children are all terminal, those children,
    and the terminal children of no known parent last touched before `before_ns`."""
    known = {p.id: p for p in parents}
    by_parent: dict[str, list[ChildOrder]] = defaultdict(list)
    orphans: list[ChildOrder] = []
    for child in children:
        pid = child.parent_id
        if pid is not None and pid in known:
            by_parent[pid].append(child)
        elif child.is_terminal and child.updated_ns < before_ns:
            orphans.append(child)
    chosen: list[Parent] = []
    taken: list[ChildOrder] = []
    for pid, parent in known.items():
        if not parent.state.is_terminal:
            continue
        ended = parent.finished_ns if parent.finished_ns is not None else parent.created_ns
        own = by_parent.get(pid, [])
        if ended < before_ns and all(c.is_terminal for c in own):
            chosen.append(parent)
            taken.extend(own)
    return Selection(tuple(chosen), (*taken, *orphans))


def add_fills(carry: Mapping[str, Carry], children: Iterable[ChildOrder]) -> dict[str, Carry]:
    """`carry` plus the children's fills: symbol → (bought, notional, sold, notional)."""
    sums = {symbol: list(value) for symbol, value in carry.items()}
    for child in children:
        if child.cum_qty:
            row = sums.setdefault(child.symbol, [0, 0.0, 0, 0.0])
            at = 0 if child.side is Side.BUY else 2
            row[at] += child.cum_qty
            row[at + 1] += child.notional
    return {s: (int(v[0]), float(v[1]), int(v[2]), float(v[3])) for s, v in sums.items()}
