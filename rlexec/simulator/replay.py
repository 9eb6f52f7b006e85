"""A LOBSTER trading day driving the matching engine, with participants' orders in the same book.

The recorded market is replayed order by order: submissions rest, cancellations and
deletions remove, executions trade, all by Nasdaq order id. After every message the
historical part of the book is checked against the LOBSTER orderbook row and corrected
where the messages cannot know better (see "Unknowns"). Participants' orders live in the
same FIFO queues. The model, in the order a reader needs it; each switch is a field of
`ReplayConfig`, its default first:

Queue position (order-level FIFO, risk-averse where unknown). A participant's resting
order joins the back of its price level. Historical orders that arrived before it are
ahead of it, by id: their cancellations move it up, cancellations of later orders do
not. Anonymous volume (below) is ahead. Volume that disappears without a record
is assumed to have been *behind* the participant; volume that appears without a record
is put *ahead* of it. This is hftbacktest's conservative "risk-averse" model made exact
wherever the data names the orders.

`unknown_queue`: where an execution of an order never seen submitted (its volume is
anonymous, so ahead of everyone) ranks. `ahead`: its shares stay in front of every
participant. `by_id`: Nasdaq assigns order ids in increasing order, so an id larger than
the largest id the replay had seen when the participant joined (`ReplayData.max_id_before`)
arrived after it: its shares queue behind that participant and in front of later ones
(and of historical orders with larger ids). The rest of the anonymous volume stays ahead.
An order that arrived, unseen, in the gap between the last id seen and the participant's
entry counts as behind (the gap is the time since the last recorded message). Only
executions rank: a cancellation of shares counted ahead only corrects an over-count.

Passive fills. A recorded execution of q shares at price p is the volume of an aggressor
that, in the simulation, walks the queues on the resting side: first any participant
orders at prices better than p (they would have been hit first), then the level at p
from the front up to the executed order — anonymous and historical volume on the way
absorbs the shares, participant orders met fill at their own limit price. What the
recorded book then sees is `passive_fill_model`:

- `overlay`: the recorded event is applied as recorded: participants' passive fills do not
  remove historical liquidity (so the simulated book never drifts from the data), the usual
  small-order assumption, which counts the aggressor's liquidity twice: an order alone
  inside the spread collects every aggressor and the recorded resting order is hit in full.
- `consume`: only what the participants (and spared shares, below) left of the aggressor
  reaches the executed order: the f shares they absorbed stay with it in the simulation
  (`HistOrder.sim > .hist`, `ReplayStats.spared_shares`), at its place in the queue, after
  it has left the recorded book if need be. Spared shares are displayed and traded like any
  other; a later recorded aggressor at or through their price takes them first (so they
  move down the queue behind it, to the order it executed); a recorded order or revealed
  volume crossing them trades with them; a participant can take them; a deletion of their
  order removes them; other recorded decrements (partial cancels, executions, row
  corrections) leave them. Beyond the stored depth they are kept but, like all recorded
  volume there, neither displayed nor traded; back in view, they trade with any
  participant order they cross. An execution of an unknown id leaves its spared shares as
  anonymous volume at the front. Nothing is replayed twice, no size goes negative, the
  recorded book (`hist`) still equals the orderbook file, and the simulated book is not
  crossed by spared shares. Prints are what the simulation traded.

`overlay` is the default because the venue, training and the shipped model were built on
it; `presets.evaluation_config` uses `consume`, and every evaluation reports both.

`hidden_fills` (an assumption, default on). Hidden executions (type 5, id 0, no book
change, mostly inside the spread) are real volume: a hidden order traded at p because
nothing displayed was at least as good, and Nasdaq gives displayed orders priority. So
the aggressor's shares go first to participant orders (and, consume, spared shares) at p
or better, through the displayed queue at p as above; the print is replayed, less (in
consume mode) what they absorbed: the hidden order keeps those shares, unseen. Off:
hidden prints never touch the simulated displayed book.

Crossing liquidity. A recorded submission, or volume revealed by the orderbook row, at a
price that crosses a participant's resting order trades with it at the participant's
price; what it took is missing from the simulated book from then on (below).

Taking liquidity. A participant's marketable order consumes displayed historical volume
(`HistOrder.sim`) in price-time order. The recorded market still has it
(`HistOrder.hist`); later recorded events on that order are reconciled against what is
left: cancellations and executions first use up the part already taken (an execution of
shares the simulation no longer has prints nothing and trades with nobody), so nothing
is replayed twice and the recorded book stays exact.

Unknowns. Orders first seen without a submission (entered before the file starts or
below the stored depth) are drawn from anonymous volume at their price (executions then
from the front of the known queue, cancellations from the back). Each orderbook row is
the truth for the stored levels: extra volume becomes anonymous volume at the front,
missing volume is removed from the back, levels the row no longer shows inside the
stored range are emptied. Beyond the stored depth the recorded book is unknown: it is
neither displayed nor traded; sweeps meet synthetic levels (depth.py: `depth.model`
`uniform`, or `profile`, the level gaps and sizes measured on a deeper file).

Impact (impact.py; `impact.enabled`, off by default; `linear` or the square-root law
`sqrt`) shifts every price participants see by a whole number of ticks after they take
liquidity; their resting orders then map to new levels and rejoin at the back. Passive
fills do not move the market.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rlexec.market.book import LOBSTER_EMPTY_ASK, LOBSTER_EMPTY_BID
from rlexec.market.events import BookLevelUpdate, BookSnapshot, MarketEvent, Trade
from rlexec.market.instrument import Instrument
from rlexec.market.lobster import CROSS, DELETE, EXECUTE, EXECUTE_HIDDEN, SUBMIT, LobsterPair
from rlexec.market.orders import OrderType, Side, TimeInForce
from rlexec.simulator.book import ASK_ALL, BID_ALL, BookSide, HistOrder, Level
from rlexec.simulator.config import ReplayConfig
from rlexec.simulator.data import ReplayData
from rlexec.simulator.depth import SyntheticDepth
from rlexec.simulator.engine import MatchingEngine
from rlexec.simulator.impact import NEVER, make_impact
from rlexec.simulator.orders import ExecReport, ExecType, Order, Report

_AGGRESSOR = {1: Side.SELL, -1: Side.BUY}
"""Aggressor of an execution, by the LOBSTER direction of the resting order it hit."""
_EMPTY_PRICES = frozenset({LOBSTER_EMPTY_ASK, LOBSTER_EMPTY_BID})


@dataclass(slots=True)
class ReplayStats:
    """How often the data needed interpreting; the model's assumptions are exercised here."""

    rows: int = 0
    unknown_events: int = 0
    """Cancels, deletes and executions of orders never seen submitted."""
    unmatched_events: int = 0
    """... of which no volume at all was known at their price (left to the row check)."""
    corrected_sides: int = 0
    """Row checks where the historical book had to be corrected to the orderbook file."""
    corrected_in_view: int = 0
    """... at a price that was already inside the stored depth, which the messages alone
    should get right. What remains (~0.2–0.4 % of rows on the samples) comes from events of
    orders never seen submitted, drawn from a resting order the replay took to be alive."""
    revealed_shares: int = 0
    vanished_shares: int = 0
    crossing_fills: int = 0
    """Participant fills by recorded or revealed liquidity crossing their resting order."""
    passive_fills: int = 0
    """Participant fills by recorded executions (visible or hidden) reaching their order."""
    spared_shares: int = 0
    """consume: shares of recorded executions that participants absorbed, left with the
    historical order the aggressor would otherwise have hit."""
    spared_taken: int = 0
    """consume: spared shares later taken by recorded aggressors or crossing recorded orders."""


class MarketReplay:
    """One trading day, replayed from a start row, that participants can trade in."""

    def __init__(
        self,
        source: ReplayData | LobsterPair | str | Path,
        config: ReplayConfig | None = None,
        *,
        start_ns: int | None = None,
        start_row: int | None = None,
    ) -> None:
        data = source if isinstance(source, ReplayData) else ReplayData.load(source)
        cfg = config or ReplayConfig()
        self.data = data
        self.config = cfg
        tick = cfg.tick_size
        dc = cfg.depth
        size = dc.level_size
        if dc.model == "uniform":
            depth = SyntheticDepth.uniform(
                dc.gap_ticks * tick,
                size if size is not None else data.mean_bid_size,
                size if size is not None else data.mean_ask_size,
                dc.max_levels,
            )
        else:
            depth = SyntheticDepth.from_profile(
                dc.profile_ticks,
                dc.profile_sizes,
                data.levels,
                tick,
                size if size is not None else data.level1_bid_size,
                size if size is not None else data.level1_ask_size,
                dc.max_levels,
            )
        self.depth = depth
        self.engine = MatchingEngine(
            Instrument(data.symbol, tick, cfg.lot_size),
            cfg.self_match,
            depth,
            cfg.max_order_quantity,
        )
        self.impact = make_impact(cfg.impact, tick)
        self._hist: dict[int, HistOrder] = {}
        self._reports: list[Report] = []
        self._md: list[MarketEvent] | None = [] if cfg.market_data else None
        self.engine.trades = self._md
        self._view_levels = cfg.view_levels or data.levels
        self._view: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]] = ((), ())
        self.stats = ReplayStats()
        self._hidden_fills = cfg.hidden_fills
        self._consume = cfg.passive_fill_model == "consume"
        self._by_id = cfg.unknown_queue == "by_id"
        self._beyond = False
        """A participant rests beyond the other side's stored depth: the row check must look
        for recorded volume that comes into view across it (`_meet_own`)."""
        self._joined: dict[int, tuple[int, int, int]] = {}
        """by_id: engine order id → (book price, quantity, largest Nasdaq id seen) when it
        last joined the back of a queue."""
        self._row = 0
        self._last_row = -1
        self.now_ns = data.start_ns
        if start_row is None:
            start_row = 0 if start_ns is None else data.row_after(start_ns)
        if not 0 <= start_row <= data.rows:
            raise ValueError(f"start_row={start_row} is outside the data's 0..{data.rows} rows")
        if start_row:
            seed = start_row - 1
            if cfg.warmup_s:
                seed = max(0, data.row_after(data.ts_ns[seed] - int(cfg.warmup_s * 1e9)) - 1)
            self._seed(seed)
            self._play(start_row)
        if start_ns is not None:
            self.now_ns = max(self.now_ns, start_ns)
        self.engine.now_ns = self.now_ns
        self._drain()
        if self._md is not None:
            self._md.clear()
            self._emit_view()

    # -- time ------------------------------------------------------------------------------

    @property
    def next_ts(self) -> int | None:
        """Time of the next recorded event, None at the end of the data."""
        return self.data.ts_ns[self._row] if self._row < self.data.rows else None

    @property
    def row(self) -> int:
        """Index of the next row to replay."""
        return self._row

    @property
    def finished(self) -> bool:
        return self._row >= self.data.rows

    def step(self, n: int = 1) -> list[Report]:
        """Replay the next n recorded messages; returns participants' reports they caused."""
        stop = min(self._row + n, self.data.rows)
        if stop > self._row:
            self._play(stop)
            self._set_now(self.data.ts_ns[stop - 1])
        return self._drain()

    def advance_to(self, ts_ns: int) -> list[Report]:
        """Replay every message up to and including ts_ns; returns the reports they caused.
        At the end of the session, working orders expire."""
        self._play(self.data.row_after(ts_ns))
        self._set_now(ts_ns)
        if self.finished and ts_ns >= self.data.end_ns and not self.engine.closed:
            self._reports.extend(self.engine.expire_all())
        return self._drain()

    def advance_by(self, seconds: float) -> list[Report]:
        return self.advance_to(self.now_ns + round(seconds * 1e9))

    def run(self) -> list[Report]:
        """Replay to the end of the session."""
        return self.advance_to(max(self.data.end_ns, self.now_ns))

    def _set_now(self, ts_ns: int) -> None:
        if ts_ns > self.now_ns:
            self.now_ns = ts_ns
        self.engine.now_ns = self.now_ns
        impact = self.impact
        if impact is not None and self.now_ns >= impact.next_change_ns:
            self._shift(impact.on_time(self.now_ns))
            if self._md is not None:
                self._emit_view()

    # -- participants ----------------------------------------------------------------------

    def submit(
        self,
        client_id: str,
        side: Side,
        quantity: int,
        price: int | None = None,
        order_type: OrderType = OrderType.LIMIT,
        time_in_force: TimeInForce = TimeInForce.DAY,
        client_order_id: str | None = None,
        symbol: str | None = None,
    ) -> list[Report]:
        """A new order now (see MatchingEngine.submit); a market order needs no price."""
        out = self.engine.submit(
            client_id, side, quantity, price, order_type, time_in_force, client_order_id, symbol
        )
        return self._after(out)

    def buy(
        self,
        client_id: str,
        quantity: int,
        price: int | None = None,
        *,
        time_in_force: TimeInForce = TimeInForce.DAY,
        client_order_id: str | None = None,
    ) -> list[Report]:
        """Limit buy at `price`, or a market buy when price is None."""
        order_type = OrderType.MARKET if price is None else OrderType.LIMIT
        return self.submit(
            client_id, Side.BUY, quantity, price, order_type, time_in_force, client_order_id
        )

    def sell(
        self,
        client_id: str,
        quantity: int,
        price: int | None = None,
        *,
        time_in_force: TimeInForce = TimeInForce.DAY,
        client_order_id: str | None = None,
    ) -> list[Report]:
        """Limit sell at `price`, or a market sell when price is None."""
        order_type = OrderType.MARKET if price is None else OrderType.LIMIT
        return self.submit(
            client_id, Side.SELL, quantity, price, order_type, time_in_force, client_order_id
        )

    def cancel(
        self,
        client_id: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
        new_client_order_id: str | None = None,
    ) -> list[Report]:
        return self._after(
            self.engine.cancel(client_id, order_id, client_order_id, new_client_order_id)
        )

    def replace(
        self,
        client_id: str,
        order_id: int | None = None,
        client_order_id: str | None = None,
        new_client_order_id: str | None = None,
        quantity: int | None = None,
        price: int | None = None,
    ) -> list[Report]:
        out = self.engine.replace(
            client_id, order_id, client_order_id, new_client_order_id, quantity, price
        )
        return self._after(out)

    def cancel_all(self, client_id: str, side: Side | None = None) -> list[Report]:
        return self._after(self.engine.cancel_all(client_id, side))

    def order(self, order_id: int) -> Order | None:
        return self.engine.orders.get(order_id)

    def queue_ahead(self, order_id: int) -> int:
        """Displayed volume ahead of a resting order (0 if it is not resting)."""
        order = self.engine.orders.get(order_id)
        return self.engine.queue_ahead(order) if order is not None else 0

    def _after(self, out: list[Report]) -> list[Report]:
        if self._by_id:
            self._record_joins(out)
        impact = self.impact
        if impact is not None and self.engine.taken_signed:
            taken = self.engine.taken_signed
            self.engine.taken_signed = 0
            self._shift(impact.on_taken(self.now_ns, taken))
        if self._consume:
            eng = self.engine
            for side in (eng.bids, eng.asks):
                if side.spared:  # participants may have taken spared shares
                    for price in list(side.spared):
                        self._tidy(side, price)
        self._watch_beyond()
        if self._reports:
            out.extend(self._drain())
        if self._md is not None:
            self._emit_view()
        return out

    def _drain(self) -> list[Report]:
        out = self._reports
        self._reports = []
        return out

    def _record_joins(self, out: list[Report]) -> None:
        """by_id: remember the largest Nasdaq id seen when an order joined the back of a queue
        (a replace keeps its place only at the same price without growing)."""
        joined = self._joined
        orders = self.engine.orders
        latest = self.data.max_id_before(self._row)
        for r in out:
            if not isinstance(r, ExecReport):
                continue
            order = orders.get(r.order_id)
            if order is None or order.level is None or order.key is None:
                joined.pop(r.order_id, None)
                continue
            if r.exec_type is ExecType.NEW or r.exec_type is ExecType.REPLACED:
                was = joined.get(order.order_id)
                if was is not None and was[0] == order.key and order.quantity <= was[1]:
                    joined[order.order_id] = (order.key, order.quantity, was[2])
                else:
                    joined[order.order_id] = (order.key, order.quantity, latest)

    def _joined_id(self, order: Order) -> int:
        """The largest Nasdaq id seen when `order` joined its queue (NEVER if not recorded:
        then every order is taken to be ahead of it)."""
        was = self._joined.get(order.order_id)
        return was[2] if was is not None else NEVER

    # -- views -----------------------------------------------------------------------------

    def levels(self, side: Side, n: int | None = None) -> list[tuple[int, int]]:
        """The simulated displayed book, best first: recorded volume left + participants'."""
        return self.engine.levels(side, n)

    def snapshot(self, n: int | None = None) -> BookSnapshot:
        n = self._view_levels if n is None else n
        return BookSnapshot(
            self.now_ns, tuple(self.levels(Side.BUY, n)), tuple(self.levels(Side.SELL, n))
        )

    @property
    def best_bid(self) -> int | None:
        top = self.engine.levels(Side.BUY, 1)
        return top[0][0] if top else None

    @property
    def best_ask(self) -> int | None:
        top = self.engine.levels(Side.SELL, 1)
        return top[0][0] if top else None

    @property
    def mid(self) -> float | None:
        bid, ask = self.best_bid, self.best_ask
        return (bid + ask) / 2 if bid is not None and ask is not None else None

    @property
    def reference_mid(self) -> float | None:
        """The recorded market's mid (plus impact), defined even when participants have
        emptied a side of the simulated book."""
        if self._last_row < 0:
            return None
        row = self.data.book_row(self._last_row)
        ask, ask_size, bid, bid_size = row[0], row[1], row[2], row[3]
        if not ask_size or not bid_size:
            return None
        return (ask + bid) / 2 + self.engine.offset

    @property
    def last_trade(self) -> Trade | None:
        return self.engine.last_trade

    def hist_levels(self, side: Side, n: int | None = None) -> list[tuple[int, int]]:
        """The recorded market as the replay holds it, best first (equals the orderbook file
        within the stored depth, whatever participants did)."""
        book = self.engine.bids if side is Side.BUY else self.engine.asks
        out: list[tuple[int, int]] = []
        for lvl in book.iter_levels():
            if n is not None and len(out) >= n:
                break
            if lvl.hist:
                out.append((lvl.price, lvl.hist))
        return out

    def market_events(self) -> list[MarketEvent]:
        """Book-level updates and trade prints since the last call (config.market_data)."""
        md = self._md
        if md is None:
            raise RuntimeError("market data collection is off (ReplayConfig.market_data)")
        out = list(md)
        md.clear()
        return out

    def _emit_view(self) -> None:
        md = self._md
        assert md is not None
        n = self._view_levels
        bids = tuple(self.engine.levels(Side.BUY, n))
        asks = tuple(self.engine.levels(Side.SELL, n))
        old_bids, old_asks = self._view
        ts = self.now_ns
        if bids != old_bids:
            _diff(ts, Side.BUY, old_bids, bids, md)
        if asks != old_asks:
            _diff(ts, Side.SELL, old_asks, asks, md)
        self._view = (bids, asks)

    # -- the replay loop -------------------------------------------------------------------

    def _seed(self, row: int) -> None:
        """Start cold from an orderbook row: every displayed share is anonymous."""
        cells = self.data.book_row(row)
        self._sync_side(self.engine.asks, _row_levels(cells, 0))
        self._sync_side(self.engine.bids, _row_levels(cells, 2))
        self._row = row + 1
        self._last_row = row
        self.now_ns = self.data.ts_ns[row]
        self.engine.now_ns = self.now_ns

    def _play(self, stop: int) -> None:
        """Apply rows [self._row, stop): the hot loop, with the no-participant paths inline."""
        start = self._row
        if stop <= start:
            return
        d = self.data
        eng = self.engine
        bids, asks = eng.bids, eng.asks
        bid_levels, ask_levels = bids.levels, asks.levels
        hist = self._hist
        cells = d.book
        width = d.width
        level_one = d.levels == 1
        md = self._md is not None
        taken = self.depth.taken
        impact = self.impact
        due = impact.next_change_ns if impact is not None else NEVER
        hidden_fills = self._hidden_fills
        consume = self._consume
        beyond = self._beyond
        print_trade = eng.print_trade
        # LOBSTER's event numbers as locals: the loop below compares them several times per row
        submit, delete, execute, hidden, cross = SUBMIT, DELETE, EXECUTE, EXECUTE_HIDDEN, CROSS
        rows = zip(
            range(start, stop),
            d.ts_ns[start:stop],
            d.event_type[start:stop],
            d.order_id[start:stop],
            d.size[start:stop],
            d.price[start:stop],
            d.direction[start:stop],
            strict=True,
        )
        for i, ts, et, oid, size, price, direction in rows:
            eng.now_ns = ts
            if ts >= due:
                assert impact is not None
                self.now_ns = ts
                self._shift(impact.on_time(ts))
                due = impact.next_change_ns
                beyond = self._beyond
            side = bids if direction == 1 else asks
            if et == submit:
                levels = bid_levels if direction == 1 else ask_levels
                lvl = levels.get(price)
                if lvl is None:
                    lvl = side.level(price)
                entry = HistOrder(size, lvl)
                lvl.orders[oid] = entry
                lvl.hist += size
                lvl.sim += size
                hist[oid] = entry
                if direction == 1:
                    if (asks.own_total or asks.spared) and asks.prices and asks.prices[0] <= price:
                        self._cross(bids, asks, lvl, entry)
                elif (bids.own_total or bids.spared) and bids.prices and bids.prices[-1] >= price:
                    self._cross(asks, bids, lvl, entry)
            elif consume and et <= execute and (side.own_total or side.spared):
                self._remove_consuming(side, price, oid, size, et)
            elif et <= execute:  # CANCEL, DELETE or EXECUTE (LOBSTER numbers them 2..4)
                if et == execute and side.own_total:
                    self._passive_fills(side, price, hist.get(oid), size, False, oid)
                known = hist.get(oid)
                if known is None:
                    traded = self._unknown(side, price, size, et)
                else:
                    lvl = known.level
                    left = 0 if et == delete or size >= known.hist else known.hist - size
                    lvl.hist -= known.hist - left
                    known.hist = left
                    traded = known.sim - left
                    if traded > 0:
                        known.sim = left
                        lvl.sim -= traded
                    if not left:
                        del hist[oid]
                        del lvl.orders[oid]
                        if not lvl.hist and not lvl.own:
                            side.discard(lvl)
                if et == execute and traded > 0:
                    print_trade(price + eng.offset, traded, _AGGRESSOR[direction])
            elif et == hidden:
                if hidden_fills and (side.own_total or side.spared):
                    absorbed = self._passive_fills(side, price, None, size, True, 0)
                    if consume:
                        size -= absorbed  # the hidden order kept what participants took
                if size > 0:
                    print_trade(price + eng.offset, size, _AGGRESSOR[direction], True)
            elif et == cross:
                print_trade(price + eng.offset, size, _AGGRESSOR[direction])
            # Check the historical book against the orderbook row.
            if beyond:
                ask_bound, bid_bound = asks.bound, bids.bound
            o = i * width
            if level_one:
                ap = cells[o]
                az = cells[o + 1]
                bp = cells[o + 2]
                bz = cells[o + 3]
                for p in asks.prices:
                    lvl = ask_levels[p]
                    if lvl.hist:
                        if p != ap or lvl.hist != az:
                            self._sync_side(asks, ((ap, az),) if az else ())
                        break
                else:
                    if az:
                        self._sync_side(asks, ((ap, az),))
                asks.bound = ap if az else ASK_ALL
                for p in reversed(bids.prices):
                    lvl = bid_levels[p]
                    if lvl.hist:
                        if p != bp or lvl.hist != bz:
                            self._sync_side(bids, ((bp, bz),) if bz else ())
                        break
                else:
                    if bz:
                        self._sync_side(bids, ((bp, bz),))
                bids.bound = bp if bz else BID_ALL
            else:
                self._check_row(cells[o : o + width])
            if beyond and (asks.bound > ask_bound or bids.bound < bid_bound):
                self._meet_own()
                beyond = self._beyond
            if taken:
                self._settle_depth()
            if md:
                self.now_ns = ts
                self._emit_view()
        self._row = stop
        self._last_row = stop - 1
        self.stats.rows += stop - start
        if d.ts_ns[stop - 1] > self.now_ns:
            self.now_ns = d.ts_ns[stop - 1]

    def _check_row(self, cells: list[int]) -> None:
        """Any depth: compare each side's top historical levels with the row."""
        n = self.data.levels
        for side, first in ((self.engine.asks, 0), (self.engine.bids, 2)):
            row = _row_levels(cells, first)
            top: list[tuple[int, int]] = []
            levels = side.levels
            for p in reversed(side.prices) if side.is_bid else side.prices:
                hist = levels[p].hist
                if hist:
                    top.append((p, hist))
                    if len(top) == n:
                        break
            if tuple(top) != row:
                self._sync_side(side, row)
            else:
                side.bound = row[-1][0] if len(row) == n else (BID_ALL if side.is_bid else ASK_ALL)

    def _sync_side(self, side: BookSide, row: Iterable[tuple[int, int]]) -> None:
        """Make the historical book on one side equal the row within the stored depth."""
        row = tuple(row)
        self.stats.corrected_sides += 1
        if len(row) == self.data.levels:
            bound = row[-1][0]
        else:
            bound = BID_ALL if side.is_bid else ASK_ALL
        want = dict(row)
        is_bid = side.is_bid
        old = side.bound
        known = not side.all_known()
        for lvl in side.iter_levels():
            p = lvl.price
            if p < bound if is_bid else p > bound:
                break
            if lvl.hist and p not in want:
                self._set_hist(side, lvl, 0)
                self.stats.corrected_in_view += known and (p >= old if is_bid else p <= old)
        for p, size in row:
            lvl = side.level(p)
            if lvl.hist != size:
                self._set_hist(side, lvl, size)
                self.stats.corrected_in_view += known and (p >= old if is_bid else p <= old)
        side.bound = bound

    def _set_hist(self, side: BookSide, lvl: Level, target: int) -> None:
        delta = target - lvl.hist
        if delta > 0:
            lvl.anon_hist += delta
            lvl.anon_sim += delta
            lvl.hist += delta
            lvl.sim += delta
            self.stats.revealed_shares += delta
            opp = self.engine.asks if side.is_bid else self.engine.bids
            if opp.own_total or opp.spared:
                self._cross(side, opp, lvl, None)
        elif delta < 0:
            self.stats.vanished_shares -= delta
            self._cut(lvl, -delta, anon_first=False, from_front=False)
            side.discard(lvl)

    def _cut(self, lvl: Level, qty: int, anon_first: bool, from_front: bool) -> int:
        """Remove `qty` recorded shares from a level without naming the orders; returns the
        simulated shares that went with them."""
        removed = 0
        if anon_first and lvl.anon_hist:
            c = min(qty, lvl.anon_hist)
            removed += self._cut_anon(lvl, c)
            qty -= c
        if qty:
            keys = [k for k in lvl.orders if k > 0]
            if not from_front:
                keys.reverse()
            hist = self._hist
            for key in keys:
                entry = lvl.orders[key]
                assert isinstance(entry, HistOrder)
                c = min(qty, entry.hist)
                spared = entry.sim > entry.hist
                entry.hist -= c
                lvl.hist -= c
                qty -= c
                if spared:  # spared shares outlive the recorded decrement
                    entry.sim -= c
                    lvl.sim -= c
                    removed += c
                elif entry.sim > entry.hist:
                    d = entry.sim - entry.hist
                    entry.sim = entry.hist
                    lvl.sim -= d
                    removed += d
                if not entry.hist:
                    hist.pop(key, None)
                    if not entry.sim:
                        del lvl.orders[key]
                if not qty:
                    break
        if qty and not anon_first and lvl.anon_hist:
            removed += self._cut_anon(lvl, min(qty, lvl.anon_hist))
        return removed

    @staticmethod
    def _cut_anon(lvl: Level, c: int) -> int:
        if lvl.anon_sim > lvl.anon_hist:  # spared shares outlive the recorded decrement
            lvl.anon_hist -= c
            lvl.hist -= c
            lvl.anon_sim -= c
            lvl.sim -= c
            return c
        lvl.anon_hist -= c
        lvl.hist -= c
        if lvl.anon_sim > lvl.anon_hist:
            d = lvl.anon_sim - lvl.anon_hist
            lvl.anon_sim = lvl.anon_hist
            lvl.sim -= d
            return d
        return 0

    def _unknown(self, side: BookSide, price: int, size: int, et: int, spared: int = 0) -> int:
        """An event for an order never seen: take it from anonymous volume at its price.
        consume: up to `spared` of the simulated shares it removes stay, as anonymous volume."""
        self.stats.unknown_events += 1
        lvl = side.levels.get(price)
        if lvl is None or not lvl.hist:
            self.stats.unmatched_events += 1
            return 0
        traded = self._cut(lvl, min(size, lvl.hist), anon_first=True, from_front=et == EXECUTE)
        if spared and traded:
            back = min(spared, traded)
            lvl.anon_sim += back
            lvl.sim += back
            traded -= back
            self.stats.spared_shares += back
            if lvl.anon_sim > lvl.anon_hist:
                side.spared.add(price)
        side.discard(lvl)
        return traded

    def _remove_consuming(self, side: BookSide, price: int, oid: int, size: int, et: int) -> None:
        """consume: a cancellation, deletion or execution. An execution's aggressor meets
        participants and spared shares first; what they absorbed does not come off the order
        it names, which keeps those shares (module doc). Recorded decrements first use up
        shares participants took from the order; spared shares outlive them, not a deletion."""
        known = self._hist.get(oid)
        absorbed = 0
        if et == EXECUTE and (side.own_total or side.spared):
            absorbed = self._passive_fills(side, price, known, size, False, oid)
        if known is None:
            traded = self._unknown(side, price, size, et, absorbed)
        else:
            lvl = known.level
            h, s = known.hist, known.sim
            left = 0 if et == DELETE or size >= h else h - size
            if et == DELETE:
                new = 0
            elif s > h:
                new = s - (h - left)
            else:
                new = min(s, left)
            traded = s - new
            if absorbed and traded:
                back = min(absorbed, traded)
                new += back
                traded -= back
                self.stats.spared_shares += back
            lvl.hist -= h - left
            lvl.sim -= s - new
            known.hist = left
            known.sim = new
            if new > left:
                side.spared.add(lvl.price)
            if not left:
                del self._hist[oid]
                if not new:
                    del lvl.orders[oid]
                side.discard(lvl)
        if et == EXECUTE and traded > 0:
            eng = self.engine
            eng.print_trade(price + eng.offset, traded, _AGGRESSOR[1 if side.is_bid else -1])

    def _passive_fills(
        self,
        side: BookSide,
        price: int,
        target: HistOrder | None,
        size: int,
        hidden: bool,
        oid: int,
    ) -> int:
        """Walk a recorded execution's volume through the resting side (see module doc).
        Returns what never reached the recorded book: participants' fills and (consume)
        spared shares taken on the way."""
        budget = size
        absorbed = 0
        out = self._reports
        fill = self.engine.fill_resting
        consume = self._consume
        # by_id: an order never seen submitted queues where its id ranks
        unknown = oid if self._by_id and target is None and not hidden else 0
        for lvl in side.iter_levels():
            p = lvl.price
            if side.better(price, p) or budget <= 0:
                break
            at_price = p == price
            trusted = side.within_bound(p)
            pending = 0
            if trusted:
                anon = lvl.anon_sim
                if consume and anon > lvl.anon_hist:
                    t = self._take_spared(side, lvl, None, min(budget, anon - lvl.anon_hist))
                    budget -= t
                    absorbed += t
                    anon -= t
                if unknown and at_price:
                    pending = min(size, anon)  # its shares, counted in the anonymous volume
                    anon -= pending
                budget -= anon
            for key, entry in list(lvl.orders.items()):
                if budget <= 0:
                    break
                if key > 0:
                    assert isinstance(entry, HistOrder)
                    if at_price and entry is target and not hidden:
                        break
                    if pending and key > unknown:
                        budget -= pending
                        pending = 0
                    if trusted:
                        ahead = entry.sim
                        if consume and ahead > entry.hist and budget > 0:
                            t = self._take_spared(side, lvl, entry, min(budget, ahead - entry.hist))
                            budget -= t
                            absorbed += t
                            ahead -= t
                        budget -= ahead
                    continue
                assert isinstance(entry, Order)
                if pending and self._joined_id(entry) >= unknown:
                    budget -= pending
                    pending = 0
                    if budget <= 0:
                        break
                qty = min(budget, entry.leaves)
                fill(entry, qty, out)
                self.stats.passive_fills += 1
                budget -= qty
                absorbed += qty
            if consume and lvl.price in side.spared:
                self._tidy(side, lvl.price)
            if at_price:
                break
        return absorbed

    def _take_spared(self, side: BookSide, lvl: Level, entry: HistOrder | None, qty: int) -> int:
        """A recorded aggressor takes spared shares (of an order, or anonymous) at lvl."""
        if qty <= 0:
            return 0
        if entry is None:
            lvl.anon_sim -= qty
        else:
            entry.sim -= qty
        lvl.sim -= qty
        self.stats.spared_taken += qty
        eng = self.engine
        eng.print_trade(lvl.price + eng.offset, qty, Side.SELL if side.is_bid else Side.BUY)
        return qty

    def _tidy(self, side: BookSide, price: int) -> None:
        """Forget spent spared shares at a price: orders with nothing left, the level if empty."""
        lvl = side.levels.get(price)
        if lvl is None:
            side.spared.discard(price)
            return
        spared = lvl.anon_sim > lvl.anon_hist
        for key, entry in list(lvl.orders.items()):
            if key > 0:
                assert isinstance(entry, HistOrder)
                if entry.sim > entry.hist:
                    spared = True
                elif not entry.hist and not entry.sim:
                    del lvl.orders[key]
        if not spared:
            side.spared.discard(price)
        side.discard(lvl)

    def _watch_beyond(self) -> None:
        eng = self.engine
        bids, asks = eng.bids, eng.asks
        self._beyond = bool(
            (bids.own_levels and max(bids.own_levels) > asks.bound)
            or (asks.own_levels and min(asks.own_levels) < bids.bound)
        )

    def _meet_own(self) -> None:
        """The row moved the stored depth outward past a participant's resting order:
        levels that come into view without a message (known orders, spared shares) and cross
        it trade with it at the participant's price, as revealed volume does."""
        self._meet_own_levels()
        self._watch_beyond()

    def _meet_own_levels(self) -> None:
        eng = self.engine
        for side, opp in ((eng.bids, eng.asks), (eng.asks, eng.bids)):
            if not opp.own_total:
                continue
            best_own = max(opp.own_levels) if opp.is_bid else min(opp.own_levels)
            for lvl in side.iter_levels():
                p = lvl.price
                if not side.within_bound(p) or ((p < best_own) if side.is_bid else (p > best_own)):
                    break
                if lvl.sim:
                    self._cross(side, opp, lvl, None)

    def _cross(
        self, liq_side: BookSide, opp: BookSide, lvl: Level, entry: HistOrder | None
    ) -> None:
        """Recorded liquidity at lvl.price (one order, or the level's front) meets
        participants' resting orders it crosses: they fill at their own price."""
        price = lvl.price
        out = self._reports
        eng = self.engine
        fill = eng.fill_resting
        spared = opp.spared
        aggressor = Side.BUY if liq_side.is_bid else Side.SELL
        for olvl in opp.iter_levels():
            avail = entry.sim if entry is not None else lvl.sim
            if not avail:
                return
            if (olvl.price < price) if opp.is_bid else (olvl.price > price):
                return
            has_spared = olvl.price in spared and opp.within_bound(olvl.price)
            if not olvl.own and not has_spared:
                continue
            if has_spared and olvl.anon_sim > olvl.anon_hist:
                qty = min(avail, olvl.anon_sim - olvl.anon_hist)
                olvl.anon_sim -= qty
                olvl.sim -= qty
                avail -= qty
                self._took_crossing(lvl, entry, qty)
                eng.print_trade(olvl.price + eng.offset, qty, aggressor)
            for key, order in list(olvl.orders.items()):
                if not avail:
                    break
                if key > 0:
                    if has_spared:
                        assert isinstance(order, HistOrder)
                        qty = min(avail, order.sim - order.hist)
                        if qty > 0:
                            order.sim -= qty
                            olvl.sim -= qty
                            avail -= qty
                            self._took_crossing(lvl, entry, qty)
                            eng.print_trade(olvl.price + eng.offset, qty, aggressor)
                    continue
                assert isinstance(order, Order)
                qty = min(order.leaves, avail)
                fill(order, qty, out)
                self.stats.crossing_fills += 1
                avail -= qty
                if entry is not None:
                    entry.sim -= qty
                    lvl.sim -= qty
                else:
                    _consume_front(lvl, qty)
            if has_spared:
                self._tidy(opp, olvl.price)

    def _took_crossing(self, lvl: Level, entry: HistOrder | None, qty: int) -> None:
        """Recorded liquidity arriving at lvl traded `qty` with spared shares it crossed."""
        self.stats.spared_taken += qty
        if entry is not None:
            entry.sim -= qty
            lvl.sim -= qty
        else:
            _consume_front(lvl, qty)

    def _settle_depth(self) -> None:
        """Synthetic shares taken at prices now inside the stored depth come off the real level."""
        eng = self.engine
        for side in (eng.bids, eng.asks):
            if side.all_known():
                continue
            for price, qty in self.depth.settle(side.is_bid, side.bound):
                lvl = side.levels.get(price)
                if lvl is not None and lvl.sim:
                    _consume_front(lvl, min(qty, lvl.sim))

    def _shift(self, offset_ticks: int) -> None:
        """Impact moved the market: remap participants' resting orders, trade what now crosses."""
        offset = offset_ticks * self.config.tick_size
        eng = self.engine
        if offset == eng.offset:
            return
        eng.offset = offset
        working = eng.working_orders()
        latest = self.data.max_id_before(self._row)
        for order in working:
            eng.rekey(order)
            if self._by_id and order.key is not None:
                self._joined[order.order_id] = (order.key, order.quantity, latest)
        for order in working:
            if order.level is not None:
                self._meet_recorded(order)
        self._watch_beyond()

    def _meet_recorded(self, order: Order) -> None:
        """A participant's resting order that now crosses recorded liquidity trades at its price."""
        eng = self.engine
        key = order.key
        assert key is not None
        buy = order.side is Side.BUY
        opp = eng.asks if buy else eng.bids
        out = self._reports
        for olvl in opp.iter_levels():
            if order.level is None:
                return
            p = olvl.price
            if (p > key if buy else p < key) or not opp.within_bound(p):
                return
            qty = min(order.leaves, olvl.sim)
            if qty:
                _consume_front(olvl, qty)
                eng.fill_resting(order, qty, out)
                self.stats.crossing_fills += 1


def fills(reports: Iterable[Report]) -> list[ExecReport]:
    """The fills among a batch of reports."""
    return [r for r in reports if isinstance(r, ExecReport) and r.is_fill]


def _consume_front(lvl: Level, qty: int) -> None:
    """Take `qty` simulated (displayed historical) shares from the front of a level."""
    if lvl.anon_sim:
        c = min(qty, lvl.anon_sim)
        lvl.anon_sim -= c
        lvl.sim -= c
        qty -= c
    if qty:
        for key, entry in list(lvl.orders.items()):
            if key < 0:
                continue
            assert isinstance(entry, HistOrder)
            c = min(qty, entry.sim)
            entry.sim -= c
            lvl.sim -= c
            qty -= c
            if not qty:
                return


def _row_levels(cells: list[int], first: int) -> tuple[tuple[int, int], ...]:
    """(price, size) of one side of an orderbook row, best first, without empty levels."""
    return tuple(
        (cells[k], cells[k + 1])
        for k in range(first, len(cells), 4)
        if cells[k + 1] > 0 and cells[k] not in _EMPTY_PRICES
    )


def _diff(
    ts: int,
    side: Side,
    old: tuple[tuple[int, int], ...],
    new: tuple[tuple[int, int], ...],
    out: list[MarketEvent],
) -> None:
    new_map = dict(new)
    for price, _ in old:
        if price not in new_map:
            out.append(BookLevelUpdate(ts, side, price, 0))
    old_map = dict(old)
    for price, size in new:
        if old_map.get(price) != size:
            out.append(BookLevelUpdate(ts, side, price, size))
