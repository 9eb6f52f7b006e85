"""The pre-trade risk overlay: one way through (`check`), its own state, the kill switch.

`RiskOverlay.check(intent, now_ns)` returns an `Approval` or a `Denial`; there is no flag
that skips it. An approval *reserves* what it approves (a working order of that size on
that side, a message-rate token), so that two approvals in a row cannot jointly pass a
limit neither passes alone. The order path then hands the approval back with
`on_order_sent(approval, order_id)` just before the bytes go out (an approval not sent
within `approval_ttl_ms`, or one issued before the kill switch or the limits were
tightened, is void), or gives it up with `release(approval)`.

A cancel/replace goes the same way: `check_replace(order_id, new_leaves, new_price, now_ns)`,
then `on_replace_sent(approval, order_id, new_order_id)`; until the venue answers
(`on_replaced` / `on_replace_rejected`) the worst of the old and the new terms is reserved.

The overlay's position, P&L, working orders and rates are built only from what it is fed:
`on_order_sent`, `on_replace_sent`, `on_order_accepted`, `on_replaced`,
`on_replace_rejected`, `on_cancel_sent`, `on_cancelled`, `on_rejected`, `on_fill` and
`on_market`, never from the strategy's view. Time is always passed in (or
read from the injected clock by the event methods); checks never read the wall clock.

Prices are integer units (`rlexec.market.instrument.PRICE_SCALE` per currency unit);
money in messages and limits is currency. NaN, infinity, a non-integer where an integer
belongs, or a price that is not positive fails closed: a denial that says which value.

Semantics worth knowing:

- Limits are inclusive: `qty == max_order_qty` passes, one more is denied; the duplicate
  window and the trading-window end are exclusive.
- Daily loss: the moment realised + unrealised (at the last good mid) crosses
  `max_daily_loss`, the switch goes HALTED (who="risk"). If a person resumes while the
  loss is still beyond the limit, only position-reducing orders pass (`DAILY_LOSS`), and
  the next crossing halts again. `new_day` starts a new period.
- Trading days: once `start_days` is called (the service does, after its restart recovery),
  the period rolls by itself at local midnight in the trading window's time zone, checked on
  the clock of the messages (`on_market`, `check`, `on_fill`): one integer comparison per
  call. A restart on the same day goes on from the stored `DayRecord`; on another day it
  starts a new period. A position carried into a day with no mark yet (after a restart)
  opens at its first price that day (a mark or a fill), so neither yesterday's unrealised
  gain nor its loss counts today.
- A fill the overlay cannot understand (bad side, quantity or price) halts: its position
  or P&L is no longer known; `reconcile_position` sets them from a source of truth.
- More than `max_fills` fills within `fill_window_ms` moves ACTIVE to REDUCING.
- A fill beyond what its order had open halts (OVERFILL); a filled position past its long,
  short or gross limit moves ACTIVE to REDUCING (POSITION_LIMIT). See `on_fill`.
- The overlay is single-threaded by design (one asyncio loop); it does no I/O except the
  kill-switch store's save on a transition.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from prometheus_client import CollectorRegistry

from rlexec.market.instrument import PRICE_SCALE
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.risk.bucket import ONE, TokenBucket
from rlexec.risk.day import DayRecord
from rlexec.risk.decision import Approval, ApprovalIssuer, Denial, Reason
from rlexec.risk.errors import ApprovalError, RiskError
from rlexec.risk.killswitch import (
    KillState,
    KillSwitch,
    KillSwitchStore,
    Transition,
)
from rlexec.risk.limits import RiskLimits, tightened
from rlexec.risk.window import DailyWindow, local_day

_BIG = 1 << 62
"""The self-match key of a market buy: above any real price. A market sell uses 0."""
_NO_ASK = _BIG + 1
_NO_BID = -1
_NS_PER_MS = 1_000_000
_NEVER = 2**63  # an epoch-ns time no clock reaches
_RISK = "risk"
"""`who` of a transition the overlay takes by itself."""

_INF = math.inf
# Module constants: reading a member off an Enum class costs ~50 ns, on every check.
_BUY, _SELL = Side.BUY, Side.SELL
_LIMIT, _MARKET = OrderType.LIMIT, OrderType.MARKET
_REF_NONE = 0
_REF_OK = 1
_REF_NONFINITE = 2
_REF_BAD = 3

Unchecked = object
"""A parameter the overlay checks itself, whatever its caller passed: a time in ns or a quantity
should be an int, a price an int (a fill's may be a float), an id a non-empty str. Anything else
fails closed (a denial, a halt, a `RiskError`, or the clock's time for an event) instead of
raising from the call. Declared `object` because that is what is accepted, and because mypyc
(rlexec/native.py) enforces declared types at the call, before the overlay's own checks."""


class _Sym:
    """One symbol: its limits copied into plain attributes, and its own state."""

    __slots__ = (
        "allowed",
        "avg",
        "buy_prices",
        "collar_bps",
        "cost_unknown",
        "max_long",
        "max_notional",
        "max_notional_units",
        "max_qty",
        "max_short",
        "mid",
        "mid_raw",
        "mid_ts",
        "min_qty",
        "name",
        "open_buy",
        "open_pending",
        "open_qty",
        "open_ref",
        "open_sell",
        "own_ask",
        "own_bid",
        "pos",
        "realised",
        "ref_state",
        "sell_prices",
        "unreal",
        "worst",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.allowed = False
        self.max_long = 0
        self.max_short = 0
        self.min_qty = 1
        self.max_qty = 0
        self.max_notional = 0.0
        self.max_notional_units = 0.0
        self.collar_bps = 0.0
        self.ref_state = _REF_NONE
        self.mid = 0.0
        self.mid_raw: object = None
        self.mid_ts = 0
        self.pos = 0
        self.avg = 0.0
        self.realised = 0.0
        self.unreal = 0.0
        self.cost_unknown = False
        self.open_buy = 0
        self.open_sell = 0
        self.open_pending = False
        self.open_qty = 0
        self.open_ref = 0.0
        self.worst = 0
        self.buy_prices: dict[int, int] = {}
        self.sell_prices: dict[int, int] = {}
        self.own_bid = _NO_BID
        self.own_ask = _NO_ASK


class _Order:
    """A working order: sent (or approved and not yet sent: then `approval` is set) and not done."""

    __slots__ = ("approval", "buy", "leaves", "order_id", "parent", "pkey", "replace", "sym", "tif")

    def __init__(
        self,
        sym: _Sym,
        buy: bool,
        leaves: int,
        pkey: int,
        order_id: str,
        tif: TimeInForce,
        parent: str | None,
    ) -> None:
        self.sym = sym
        self.buy = buy
        self.leaves = leaves
        self.pkey = pkey
        self.order_id = order_id
        self.tif = tif
        self.parent = parent
        self.approval: Approval | None = None
        self.replace: _Replace | None = None


class _Replace:
    """A replace of a working order, approved (`new_id` None) or sent and not yet answered."""

    __slots__ = ("approval", "new_id", "new_leaves", "new_pkey", "order")

    def __init__(self, approval: Approval, order: _Order, new_leaves: int, new_pkey: int) -> None:
        self.approval = approval
        self.order = order
        self.new_leaves = new_leaves
        self.new_pkey = new_pkey
        self.new_id: str | None = None


def _reserved(order: _Order) -> int:
    """What may still fill: the worst of the old and the new terms while a replace is open."""
    rep = order.replace
    if rep is None or rep.new_leaves <= order.leaves:
        return order.leaves
    return rep.new_leaves


def _issued_ns(entry: _Order | _Replace) -> int:
    approval = entry.approval
    return approval.issued_ns if approval is not None else 0


@dataclass(frozen=True, slots=True)
class PositionView:
    """The overlay's own view of one symbol, in shares and currency."""

    symbol: str
    position: int
    avg_price: float
    realised_pnl: float
    unrealised_pnl: float
    working_buy_qty: int
    working_sell_qty: int
    mid: float | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A run-time change that is not a kill-switch transition: tighten, new day, reconcile."""

    action: str
    who: str
    why: str
    at_ns: int
    detail: str


class RiskOverlay:
    """Every new order passes `check`; everything that happens is fed back through `on_*`."""

    def __init__(
        self,
        limits: RiskLimits,
        *,
        store: KillSwitchStore | None = None,
        clock: Callable[[], int] = time.time_ns,
        registry: CollectorRegistry | None = None,
        initialise: bool = False,
    ) -> None:
        """`store` and `initialise` are the kill switch's (see `KillSwitch`): with a store, a
        missing saved state starts HALTED unless `initialise=True` (first start only)."""
        self._clock = clock
        self._syms: dict[str, _Sym] = {}
        self._working: dict[str, _Order] = {}
        self._pending: dict[int, _Order | _Replace] = {}
        self._issuer = ApprovalIssuer()
        self._recent: dict[tuple[str, bool, int, int], int] = {}
        self._fill_times: deque[int] = deque()
        self._seq = 0
        self._n_working = 0
        self._gross = 0
        self._realised_total = 0.0
        self._unreal_total = 0.0
        self._baseline = 0.0
        self._pnl = 0.0
        self._pnl_unknown = False
        self._loss_breached = False
        self._day: date | None = None
        self._day_end_ns = _NEVER
        """When the current trading day ends (epoch ns); `_NEVER` until `start_days`."""
        self._stored_day: DayRecord | None = None
        self._on_day: Callable[[DayRecord], None] | None = None
        self._audit: list[AuditRecord] = []
        # counters read by the metrics collector
        self.n_checks = 0
        self.n_approved = 0
        self.n_cancels = 0
        self.n_fills = 0
        self.n_unknown_order_events = 0
        self.n_store_errors = 0
        self.last_store_error: str | None = None
        self.denials: dict[Reason, int] = dict.fromkeys(Reason, 0)
        self._ob = TokenBucket(
            limits.max_orders_per_s, limits.order_burst or limits.max_orders_per_s
        )
        self._mb = TokenBucket(
            limits.max_messages_per_s, limits.message_burst or limits.max_messages_per_s
        )
        self._install(limits)
        self._killswitch = KillSwitch(store, clock=clock, initialise=initialise)
        self._halted = False
        self._reduce_only = False
        self._set_state_flags(self._killswitch.state)
        self._killswitch.add_listener(self._on_transition)
        if registry is not None:
            from rlexec.risk.metrics import RiskCollector

            registry.register(RiskCollector(self))

    # -- limits --------------------------------------------------------------------------

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    def _install(self, limits: RiskLimits) -> None:
        """Copy the frozen model into plain attributes that the check reads."""
        self._limits = limits
        for sym in self._syms.values():
            sym.allowed = False
        for name, sl in limits.symbols.items():
            sym = self._sym(name)
            sym.allowed = True
            sym.max_long = sl.max_long_position
            sym.max_short = sl.max_short_position
            sym.min_qty = sl.min_order_qty
            sym.max_qty = sl.max_order_qty
            sym.max_notional = sl.max_order_notional
            sym.max_notional_units = sl.max_order_notional * PRICE_SCALE
            sym.collar_bps = limits.collar_bps(name)
        self._max_gross = limits.max_gross_position
        self._max_loss = limits.max_daily_loss
        self._loss_floor = -limits.max_daily_loss
        self._max_working = limits.max_working_orders
        self._ob.configure(limits.max_orders_per_s, limits.order_burst or limits.max_orders_per_s)
        self._mb.configure(
            limits.max_messages_per_s, limits.message_burst or limits.max_messages_per_s
        )
        self._max_age_ns = limits.max_reference_age_ms * _NS_PER_MS
        self._dup_ns = limits.duplicate_window_ms * _NS_PER_MS
        self._max_fills = limits.max_fills
        self._fill_window_ns = limits.fill_window_ms * _NS_PER_MS
        self._ttl_ns = limits.approval_ttl_ms * _NS_PER_MS
        tw = limits.trading_window
        self._window = DailyWindow(tw.start, tw.end, tw.tz)

    def tighten(
        self,
        *,
        who: Unchecked,
        why: Unchecked,
        symbols: Mapping[str, Mapping[str, Any] | None] | None = None,
        now_ns: Unchecked = None,
        **changes: Any,
    ) -> RiskLimits:
        """Install stricter limits (every change at least as strict) and return them.

        Loosening raises `LimitLooseningError` naming the key; a bad value raises
        `RiskConfigError`. Approvals issued under the old limits are void.
        """
        actor, reason = _attribution("tighten", who, why)
        new = tightened(self._limits, changes, symbols)
        self._void_pending()
        self._install(new)
        detail = ", ".join(f"{k}={v!r}" for k, v in changes.items())
        if symbols:
            detail = ", ".join(filter(None, [detail, f"symbols={dict(symbols)!r}"]))
        self._audit.append(AuditRecord("tighten", actor, reason, self._now(now_ns), detail))
        return new

    # -- the kill switch -----------------------------------------------------------------

    @property
    def state(self) -> KillState:
        return self._killswitch.state

    @property
    def history(self) -> tuple[Transition, ...]:
        return self._killswitch.history

    @property
    def killswitch(self) -> KillSwitch:
        return self._killswitch

    def halt(self, who: str, why: str, now_ns: int | None = None) -> Transition | None:
        return self._killswitch.halt(who, why, now_ns)

    def reduce(self, who: str, why: str, now_ns: int | None = None) -> Transition | None:
        return self._killswitch.reduce(who, why, now_ns)

    def re_enable(self, who: str, why: str, now_ns: int | None = None) -> Transition:
        return self._killswitch.re_enable(who, why, now_ns)

    def resume(
        self, who: str, why: str, now_ns: int | None = None, *, to: KillState = KillState.ACTIVE
    ) -> Transition:
        return self._killswitch.resume(who, why, now_ns, to=to)

    def _set_state_flags(self, state: KillState) -> None:
        self._halted = state is KillState.HALTED
        self._reduce_only = state is KillState.REDUCING

    def _on_transition(self, record: Transition) -> None:
        self._set_state_flags(record.to_state)
        frm = record.from_state
        if frm is None or record.to_state.strictness > frm.strictness:
            self._void_pending()

    # -- the one way through -------------------------------------------------------------

    def check(self, intent: OrderIntent, now_ns: Unchecked) -> Approval | Denial:
        """Approve or deny one new order. Never raises: an unexpected error is a denial."""
        self.n_checks += 1
        if self._halted:
            return self._deny(Reason.HALTED, f"HALTED: {self._halt_reason()}")
        try:
            return self._check(intent, now_ns)
        except Exception as exc:  # fail closed on anything unforeseen
            return self._deny(
                Reason.INVALID_ORDER,
                f"INVALID_ORDER: check failed on {intent!r}: {type(exc).__name__}: {exc}",
            )

    def _check(self, intent: OrderIntent, now_ns: Unchecked) -> Approval | Denial:
        if type(now_ns) is not int:
            return self._bad_number("now_ns", now_ns)
        if now_ns >= self._day_end_ns:
            self._roll_day(now_ns)
        if type(intent) is not OrderIntent:
            return self._deny(
                Reason.INVALID_ORDER, f"INVALID_ORDER: not an OrderIntent: {intent!r}"
            )
        # Read every field once: the approval and the reservation use these copies only. Read
        # as what they may be (an intent is a plain object anyone can fill), not as declared.
        fields: Any = intent
        symbol: object = fields.symbol
        qty: object = fields.quantity
        side: object = fields.side
        price: object = fields.price
        otype: object = fields.order_type
        tif: Any = fields.time_in_force
        parent: Any = fields.parent_id
        s = self._syms.get(symbol) if type(symbol) is str else None
        if s is None or not s.allowed:
            return self._deny(
                Reason.SYMBOL_NOT_ALLOWED,
                f"SYMBOL_NOT_ALLOWED: symbol={symbol!r} is not on the allow-list",
            )
        name = s.name  # the allow-list's key: the symbol's str
        if type(qty) is not int:
            return self._bad_number("qty", qty)
        if qty <= 0:
            return self._deny(Reason.INVALID_ORDER, f"INVALID_ORDER: qty={qty} is not positive")
        if side is _BUY:
            buy = True
        elif side is _SELL:
            buy = False
        else:
            return self._deny(Reason.INVALID_ORDER, f"INVALID_ORDER: side={side!r} is not a Side")
        if otype is _LIMIT:
            if type(price) is not int:
                return self._bad_number("price", price)
            if price <= 0:
                return self._deny(
                    Reason.INVALID_ORDER, f"INVALID_ORDER: price={price} is not positive"
                )
            pkey = price
        elif otype is _MARKET and price is None:
            pkey = _BIG if buy else 0
        else:
            return self._deny(
                Reason.INVALID_ORDER, f"INVALID_ORDER: order_type={otype!r} with price={price!r}"
            )

        if type(tif) is not TimeInForce or (parent is not None and type(parent) is not str):
            return self._deny(
                Reason.INVALID_ORDER,
                f"INVALID_ORDER: time_in_force={tif!r} parent_id={parent!r}",
            )
        denial = self._market_checks(s, buy, qty, price, now_ns)
        if denial is not None:
            return denial
        if self._pending:
            self._expire_pending(now_ns)
        worst = self._exposure(s, buy, qty, now_ns, None)
        if isinstance(worst, Denial):
            return worst
        if self._n_working >= self._max_working:
            return self._deny(
                Reason.MAX_WORKING_ORDERS,
                f"MAX_WORKING_ORDERS: working={self._n_working} + 1 > max={self._max_working}",
            )
        if buy:
            if pkey >= s.own_ask:
                return self._self_match(name, buy, price, s.own_ask)
        elif pkey <= s.own_bid:
            return self._self_match(name, buy, price, s.own_bid)
        key = (name, buy, qty, pkey)
        last = self._recent.get(key)
        if last is not None and now_ns - last < self._dup_ns:
            return self._deny(
                Reason.DUPLICATE_ORDER,
                f"DUPLICATE_ORDER: same {name} {'BUY' if buy else 'SELL'} qty={qty} "
                f"price={price} {(now_ns - last) / _NS_PER_MS:g} ms ago < {self._dup_ns // _NS_PER_MS} ms",
            )
        denial = self._take_tokens(now_ns)
        if denial is not None:
            return denial

        # Approved: reserve the order.
        recent = self._recent
        recent[key] = now_ns
        if len(recent) > 4096:
            self._prune_recent(now_ns)
        if buy:
            s.open_buy += qty
        else:
            s.open_sell += qty
        self._add_price(s, buy, pkey)
        self._gross += worst - s.worst
        s.worst = worst
        self._n_working += 1
        self._seq = seq = self._seq + 1
        approval = Approval(self._issuer, name, side, qty, otype, price, tif, parent, seq, now_ns)
        order = _Order(s, buy, qty, pkey, "", tif, parent)
        order.approval = approval
        self._pending[seq] = order
        self.n_approved += 1
        return approval

    def check_replace(
        self, order_id: Unchecked, new_leaves: Unchecked, new_price: Unchecked, now_ns: Unchecked
    ) -> Approval | Denial:
        """Approve or deny a cancel/replace of working order `order_id`, so that `new_leaves`
        shares stay open at `new_price` (None: market). Never raises.

        A pure decrease (fewer leaves, same price) only reduces risk: approved in ACTIVE and
        REDUCING, taking a message token that is never refused (like a cancel). Anything else
        passes the checks of a new order for what it adds: quantity limits on `new_leaves`,
        collar and notional at the new price, positions and gross with the worst case of the
        old and the new terms (both can fill until the venue answers), REDUCING's and the daily
        loss's reduce-only rule, self-match, both rates. HALTED denies every replace. The
        approval's `intent` is the order after the replace; send it with `on_replace_sent`.

        `new_leaves` counts from the order as the overlay sees it now: shares that fill before
        the venue applies the replace come off it (in FIX: OrderQty = CumQty now + new_leaves).
        """
        self.n_checks += 1
        if self._halted:
            return self._deny(Reason.HALTED, f"HALTED: {self._halt_reason()}")
        try:
            return self._check_replace(order_id, new_leaves, new_price, now_ns)
        except Exception as exc:  # fail closed on anything unforeseen
            return self._deny(
                Reason.INVALID_ORDER,
                f"INVALID_ORDER: replace check failed on order_id={order_id!r} "
                f"new_leaves={new_leaves!r} new_price={new_price!r}: {type(exc).__name__}: {exc}",
            )

    def _check_replace(
        self, order_id: Unchecked, new_leaves: Unchecked, new_price: Unchecked, now_ns: Unchecked
    ) -> Approval | Denial:
        if type(now_ns) is not int:
            return self._bad_number("now_ns", now_ns)
        if now_ns >= self._day_end_ns:
            self._roll_day(now_ns)
        order = self._working.get(order_id) if type(order_id) is str else None
        if order is None:
            return self._deny(
                Reason.UNKNOWN_ORDER,
                f"UNKNOWN_ORDER: order_id={order_id!r} is not a working order",
            )
        rep = order.replace
        if rep is not None:
            where = "approved" if rep.new_id is None else f"in flight as {rep.new_id!r}"
            return self._deny(
                Reason.REPLACE_PENDING,
                f"REPLACE_PENDING: order {order.order_id!r} already has a replace {where}",
            )
        if type(new_leaves) is not int:
            return self._bad_number("new_leaves", new_leaves)
        if new_leaves <= 0:
            return self._deny(
                Reason.INVALID_ORDER,
                f"INVALID_ORDER: new_leaves={new_leaves} is not positive (cancel instead)",
            )
        s = order.sym
        buy = order.buy
        if new_price is None:
            otype = OrderType.MARKET
            pkey = _BIG if buy else 0
        elif type(new_price) is not int:
            return self._bad_number("new_price", new_price)
        elif new_price <= 0:
            return self._deny(
                Reason.INVALID_ORDER, f"INVALID_ORDER: new_price={new_price} is not positive"
            )
        else:
            otype = OrderType.LIMIT
            pkey = new_price
        if self._pending:
            self._expire_pending(now_ns)
        old = order.leaves
        if new_leaves < old and pkey == order.pkey:
            self._mb.force(now_ns)  # risk-reducing: counted, never refused
        else:
            denial = self._market_checks(s, buy, new_leaves, new_price, now_ns)
            if denial is not None:
                return denial
            delta = new_leaves - old if new_leaves > old else 0
            what = f"replace {old}→{new_leaves} adds qty={delta}"
            worst = self._exposure(s, buy, delta, now_ns, what)
            if isinstance(worst, Denial):
                return worst
            if buy:
                if pkey >= s.own_ask:
                    return self._self_match(s.name, buy, new_price, s.own_ask)
            elif pkey <= s.own_bid:
                return self._self_match(s.name, buy, new_price, s.own_bid)
            denial = self._take_tokens(now_ns)
            if denial is not None:
                return denial

        # Approved: reserve the worst of the old and the new terms until the venue answers.
        self._seq = seq = self._seq + 1
        side = Side.BUY if buy else Side.SELL
        approval = Approval(
            self._issuer,
            s.name,
            side,
            new_leaves,
            otype,
            new_price,
            order.tif,
            order.parent,
            seq,
            now_ns,
            order.order_id,
        )
        rep = _Replace(approval, order, new_leaves, pkey)
        before = _reserved(order)
        order.replace = rep
        self._add_price(s, buy, pkey)
        self._moved(s, buy, _reserved(order) - before)
        self._pending[seq] = rep
        self.n_approved += 1
        return approval

    # -- checks shared by new orders and replaces ----------------------------------------

    def _market_checks(
        self, s: _Sym, buy: bool, qty: int, price: int | None, now_ns: int
    ) -> Denial | None:
        """Trading window, order size, reference price, collar and notional."""
        window = self._window
        if not (window.lo <= now_ns < window.hi) and not window.contains(now_ns):
            return self._deny(
                Reason.OUTSIDE_TRADING_WINDOW,
                f"OUTSIDE_TRADING_WINDOW: now_ns={now_ns} is outside {window.describe()}",
            )
        if qty < s.min_qty:
            return self._deny(Reason.MIN_ORDER_QTY, f"MIN_ORDER_QTY: qty={qty} < min={s.min_qty}")
        if qty > s.max_qty:
            return self._deny(Reason.MAX_ORDER_QTY, f"MAX_ORDER_QTY: qty={qty} > max={s.max_qty}")
        if s.ref_state != _REF_OK:
            return self._bad_reference(s)
        ref = s.mid
        age = now_ns - s.mid_ts
        if age > self._max_age_ns or age < -self._max_age_ns:
            return self._stale(s.name, age)
        notional: int | float  # exact for a limit order (int × int), float at the reference
        if price is None:
            notional = qty * ref
        else:
            notional = qty * price
            if buy:
                if (price - ref) * 10_000.0 > s.collar_bps * ref:
                    return self._collar(s.name, buy, price, ref, s.collar_bps)
            elif (ref - price) * 10_000.0 > s.collar_bps * ref:
                return self._collar(s.name, buy, price, ref, s.collar_bps)
        if notional > s.max_notional_units:
            return self._deny(
                Reason.MAX_ORDER_NOTIONAL,
                f"MAX_ORDER_NOTIONAL: notional={notional / PRICE_SCALE:.2f} > max={s.max_notional:.2f}",
            )
        return None

    def _exposure(
        self, s: _Sym, buy: bool, qty: int, now_ns: int, what: str | None
    ) -> int | Denial:
        """The symbol's new worst case if `qty` more shares may fill, or the denial: the
        reduce-only rule (REDUCING, or the daily loss breached), long, short and gross limits.
        `what` names a replace's delta in messages (a new order shows `qty=`)."""
        pos = s.pos
        if self._reduce_only or not (self._pnl >= self._loss_floor):
            reduces = (
                (pos < 0 and s.open_buy + qty <= -pos)
                if buy
                else (pos > 0 and s.open_sell + qty <= pos)
            )
            if not reduces:
                return self._not_reducing(s, buy, qty, what)
        shown = f"qty={qty}" if what is None else what
        if buy:
            long_after = pos + s.open_buy + qty
            if long_after > s.max_long:
                return self._deny(
                    Reason.MAX_LONG_POSITION,
                    f"MAX_LONG_POSITION: {s.name} position={pos} + working buys={s.open_buy} "
                    f"+ {shown} = {long_after} > max={s.max_long}",
                )
            short_now = s.open_sell - pos
            worst = long_after if long_after > short_now else short_now
        else:
            short_after = s.open_sell + qty - pos
            if short_after > s.max_short:
                return self._deny(
                    Reason.MAX_SHORT_POSITION,
                    f"MAX_SHORT_POSITION: {s.name} -(position={pos} - working sells={s.open_sell} "
                    f"- {shown}) = {short_after} > max={s.max_short}",
                )
            long_now = pos + s.open_buy
            worst = long_now if long_now > short_after else short_after
        grow = worst - s.worst
        if grow > 0 and self._gross + grow > self._max_gross:
            return self._deny(
                Reason.MAX_GROSS_POSITION,
                f"MAX_GROSS_POSITION: gross={self._gross} + {grow} = {self._gross + grow} "
                f"> max={self._max_gross}",
            )
        return worst

    def _take_tokens(self, now_ns: int) -> Denial | None:
        """One order token and one message token, or the denial (taking neither)."""
        ob = self._ob
        if ob.refill(now_ns) < ONE:
            return self._deny(Reason.ORDER_RATE, f"ORDER_RATE: {ob.describe('order')}")
        mb = self._mb
        if mb.refill(now_ns) < ONE:
            return self._deny(Reason.MESSAGE_RATE, f"MESSAGE_RATE: {mb.describe('message')}")
        ob.level -= ONE  # ob.take(), mb.take(): `refill` showed both tokens are there
        mb.level -= ONE
        return None

    # -- denial helpers (only on the denial path) ----------------------------------------

    def _deny(self, reason: Reason, message: str) -> Denial:
        self.denials[reason] += 1
        return Denial(reason, message)

    def _bad_number(self, key: str, value: object) -> Denial:
        if isinstance(value, float) and not math.isfinite(value):
            return self._deny(Reason.NON_FINITE, f"NON_FINITE: {key}={value!r}")
        return self._deny(
            Reason.INVALID_ORDER,
            f"INVALID_ORDER: {key}={value!r} is not an integer ({type(value).__name__})",
        )

    def _bad_reference(self, s: _Sym) -> Denial:
        if s.ref_state == _REF_NONE:
            return self._deny(Reason.NO_REFERENCE, f"NO_REFERENCE: no mid yet for {s.name}")
        if s.ref_state == _REF_NONFINITE:
            return self._deny(
                Reason.NON_FINITE, f"NON_FINITE: reference mid={s.mid_raw!r} for {s.name}"
            )
        return self._deny(
            Reason.BAD_REFERENCE,
            f"BAD_REFERENCE: mid={s.mid_raw!r} for {s.name} is not a positive price",
        )

    def _collar(self, name: str, buy: bool, price: int, ref: float, bps: float) -> Denial:
        through = (price - ref) if buy else (ref - price)
        return self._deny(
            Reason.PRICE_COLLAR,
            f"PRICE_COLLAR: {name} {'BUY' if buy else 'SELL'} price={price} is "
            f"{through * 10_000.0 / ref:.2f} bps through mid={ref:g} > max={bps:g} bps",
        )

    def _self_match(self, name: str, buy: bool, price: int | None, own: int) -> Denial:
        what = "market" if price is None else f"price={price}"
        other = "SELL" if buy else "BUY"
        shown = "market" if own in (0, _BIG) else str(own)
        return self._deny(
            Reason.SELF_MATCH,
            f"SELF_MATCH: {name} {'BUY' if buy else 'SELL'} {what} would cross our working "
            f"{other} at {shown}",
        )

    def _not_reducing(self, s: _Sym, buy: bool, qty: int, what: str | None) -> Denial:
        working = s.open_buy if buy else s.open_sell
        shown = f"qty={qty}" if what is None else what
        detail = (
            f"{s.name} {'BUY' if buy else 'SELL'} {shown} + working={working} "
            f"does not reduce position={s.pos}"
        )
        if self._reduce_only:
            return self._deny(Reason.REDUCE_ONLY, f"REDUCE_ONLY: {detail}")
        if not math.isfinite(self._pnl):
            return self._deny(Reason.NON_FINITE, f"NON_FINITE: daily P&L is unknown; {detail}")
        return self._deny(
            Reason.DAILY_LOSS,
            f"DAILY_LOSS: loss={-self._pnl:.2f} > max={self._max_loss:.2f}; {detail}",
        )

    def _stale(self, name: str, age: int) -> Denial:
        limit = self._max_age_ns // _NS_PER_MS
        if age < 0:
            return self._deny(
                Reason.STALE_REFERENCE,
                f"STALE_REFERENCE: {name} mid is {-age / _NS_PER_MS:g} ms in the future "
                f"> max={limit} ms (clock or feed is wrong)",
            )
        return self._deny(
            Reason.STALE_REFERENCE,
            f"STALE_REFERENCE: {name} mid age={age / _NS_PER_MS:g} ms > max={limit} ms",
        )

    def _halt_reason(self) -> str:
        last = self._killswitch.last
        if last is None:
            return "no new orders"
        return f"no new orders (by {last.who}: {last.why})"

    # -- approvals -----------------------------------------------------------------------

    def on_order_sent(
        self, approval: Approval, order_id: Unchecked, now_ns: Unchecked = None
    ) -> None:
        """Turn an approval into a working order, just before its bytes go out.

        Raises `ApprovalError` for an approval this overlay did not issue, or that was already
        sent, released, expired, or voided by a kill-switch or limit change, or that is for a
        replace; the order must then not be sent. The working order is what was approved (the
        overlay's own copy), whatever became of the intent that was checked.
        """
        now = self._now(now_ns)
        entry = self._take_pending(approval)
        seq = approval.seq
        if not isinstance(entry, _Order):
            self._unreserve(entry)
            raise ApprovalError(
                f"approval {seq} is for a replace of {approval.replaces!r}: send it with "
                "on_replace_sent"
            )
        if now - approval.issued_ns > self._ttl_ns:
            self._unreserve(entry)
            raise self._expired(approval, now)
        if type(order_id) is not str or not order_id or order_id in self._working:
            self._unreserve(entry)
            raise ApprovalError(f"order id {order_id!r} is empty or already working")
        entry.order_id = order_id
        entry.approval = None
        self._working[order_id] = entry

    def on_replace_sent(
        self,
        approval: Approval,
        order_id: Unchecked,
        new_order_id: Unchecked,
        now_ns: Unchecked = None,
    ) -> None:
        """A replace of `order_id` goes out as `new_order_id`: until the venue answers
        (`on_replaced` / `on_replace_rejected`) the worst of the old and the new terms stays
        reserved, and fills may name either id.

        Raises `ApprovalError` as `on_order_sent` does, and for an approval that is not for a
        replace of `order_id`, or whose order is no longer working; the replace must then not
        be sent.
        """
        now = self._now(now_ns)
        entry = self._take_pending(approval)
        seq = approval.seq
        if not isinstance(entry, _Replace):
            self._unreserve(entry)
            raise ApprovalError(f"approval {seq} is for a new order: send it with on_order_sent")
        order = entry.order
        if order.replace is not entry:
            raise ApprovalError(f"approval {seq}: order {approval.replaces!r} is no longer working")
        if order_id != order.order_id:
            self._unreserve(entry)
            raise ApprovalError(
                f"approval {seq} replaces order {order.order_id!r}, not {order_id!r}"
            )
        if now - approval.issued_ns > self._ttl_ns:
            self._unreserve(entry)
            raise self._expired(approval, now)
        if type(new_order_id) is not str or not new_order_id or new_order_id in self._working:
            self._unreserve(entry)
            raise ApprovalError(f"order id {new_order_id!r} is empty or already working")
        entry.new_id = new_order_id
        self._working[new_order_id] = order

    def release(self, approval: Approval) -> bool:
        """Give up an approval that will not be sent; True if it was still outstanding."""
        seq = getattr(approval, "seq", None)
        entry = self._pending.get(seq) if isinstance(seq, int) else None
        if entry is None or entry.approval is not approval or not isinstance(seq, int):
            return False
        del self._pending[seq]
        self._unreserve(entry)
        return True

    def _take_pending(self, approval: Approval) -> _Order | _Replace:
        """The reservation behind an outstanding approval (removed from pending), or raise."""
        seq = getattr(approval, "seq", None)
        entry = self._pending.get(seq) if isinstance(seq, int) else None
        if entry is None or entry.approval is not approval or not isinstance(seq, int):
            raise ApprovalError(
                f"approval {seq!r} was not issued by this overlay, or was already sent, "
                "released, expired or voided"
            )
        del self._pending[seq]
        return entry

    def _expired(self, approval: Approval, now: int) -> ApprovalError:
        return ApprovalError(
            f"approval {approval.seq} expired: {(now - approval.issued_ns) / _NS_PER_MS:g} ms "
            f"> ttl={self._ttl_ns // _NS_PER_MS} ms"
        )

    def _expire_pending(self, now_ns: int) -> None:
        pending = self._pending
        limit = now_ns - self._ttl_ns
        while pending:
            seq, entry = next(iter(pending.items()))
            if _issued_ns(entry) >= limit:
                break
            del pending[seq]
            self._unreserve(entry)

    def _void_pending(self) -> None:
        pending = list(self._pending.values())
        self._pending.clear()
        for entry in pending:
            self._unreserve(entry)

    def _unreserve(self, entry: _Order | _Replace) -> None:
        """Take back what an approval that will not be sent reserved."""
        if isinstance(entry, _Order):
            self._release_working(entry.sym, entry.buy, entry.leaves, entry.pkey)
            return
        order = entry.order
        if order.replace is not entry:
            return  # the order finished meanwhile and released everything
        self._settle_replace(order, confirmed=False)

    def _settle_replace(self, order: _Order, *, confirmed: bool) -> None:
        """The venue (or the overlay, for an unsent replace) decided: one set of terms holds."""
        rep = order.replace
        assert rep is not None
        s = order.sym
        before = _reserved(order)
        if confirmed:
            self._working.pop(order.order_id, None)
            self._drop_price(s, order.buy, order.pkey)
            order.pkey = rep.new_pkey
            order.leaves = rep.new_leaves
            order.order_id = rep.new_id or order.order_id
        else:
            if rep.new_id is not None:
                self._working.pop(rep.new_id, None)
            self._drop_price(s, order.buy, rep.new_pkey)
        order.replace = None
        self._moved(s, order.buy, order.leaves - before)
        if order.leaves == 0:
            self._working.pop(order.order_id, None)
            self._release_working(s, order.buy, 0, order.pkey)

    def _add_price(self, s: _Sym, buy: bool, pkey: int) -> None:
        """Count one of our working orders at `pkey` (for self-match)."""
        if buy:
            prices = s.buy_prices
            prices[pkey] = prices.get(pkey, 0) + 1
            if pkey > s.own_bid:
                s.own_bid = pkey
        else:
            prices = s.sell_prices
            prices[pkey] = prices.get(pkey, 0) + 1
            if pkey < s.own_ask:
                s.own_ask = pkey

    def _drop_price(self, s: _Sym, buy: bool, pkey: int) -> None:
        prices = s.buy_prices if buy else s.sell_prices
        count = prices.get(pkey, 0) - 1
        if count > 0:
            prices[pkey] = count
        else:
            prices.pop(pkey, None)
            if buy:
                s.own_bid = max(prices) if prices else _NO_BID
            else:
                s.own_ask = min(prices) if prices else _NO_ASK

    def _moved(self, s: _Sym, buy: bool, delta: int) -> None:
        """`delta` more (or fewer) shares of working orders on one side."""
        if delta:
            if buy:
                s.open_buy += delta
            else:
                s.open_sell += delta
            self._refresh_worst(s)

    def _release_working(self, s: _Sym, buy: bool, leaves: int, pkey: int) -> None:
        """Take a working order (or what is left of it) off the books."""
        if buy:
            s.open_buy -= leaves
        else:
            s.open_sell -= leaves
        self._drop_price(s, buy, pkey)
        self._n_working -= 1
        self._refresh_worst(s)

    def _refresh_worst(self, s: _Sym) -> None:
        long_w = s.pos + s.open_buy
        short_w = s.open_sell - s.pos
        worst = long_w if long_w > short_w else short_w
        self._gross += worst - s.worst
        s.worst = worst

    def _prune_recent(self, now_ns: int) -> None:
        cutoff = now_ns - self._dup_ns
        self._recent = {k: t for k, t in self._recent.items() if t > cutoff}

    # -- order events --------------------------------------------------------------------

    def adopt_working(
        self,
        order_id: Unchecked,
        symbol: Unchecked,
        side: Side,
        leaves: Unchecked,
        price: Unchecked,
        time_in_force: TimeInForce = TimeInForce.DAY,
        parent_id: str | None = None,
    ) -> None:
        """Count an order working at the venue that this overlay never approved (a restart
        finds the last process's): until it is reported filled, cancelled or rejected its
        `leaves` are reserved, it counts as a working order and its price joins the
        self-match book, exactly as an approved one. Never refused, since it is already at
        the venue: a limit it takes past its bound denies the next order that adds to it."""
        if type(order_id) is not str or not order_id or order_id in self._working:
            raise RiskError(f"adopt_working: order id {order_id!r} is empty or already working")
        if type(symbol) is not str or not symbol:
            raise RiskError(f"adopt_working: {order_id}: symbol={symbol!r}")
        if side is not Side.BUY and side is not Side.SELL:
            raise RiskError(f"adopt_working: {order_id}: side={side!r}")
        if type(leaves) is not int or leaves <= 0:
            raise RiskError(f"adopt_working: {order_id}: leaves={leaves!r} is not positive")
        if price is not None and (type(price) is not int or price <= 0):
            raise RiskError(f"adopt_working: {order_id}: price={price!r} is not a price")
        s = self._sym(symbol)
        buy = side is Side.BUY
        pkey = price if price is not None else (_BIG if buy else 0)
        if buy:
            s.open_buy += leaves
        else:
            s.open_sell += leaves
        self._add_price(s, buy, pkey)
        self._n_working += 1
        self._refresh_worst(s)
        self._working[order_id] = _Order(s, buy, leaves, pkey, order_id, time_in_force, parent_id)

    def holds(self, order_id: Unchecked) -> bool:
        """Whether `order_id` names an order this overlay counts as working."""
        return type(order_id) is str and order_id in self._working

    def on_order_accepted(self, order_id: Unchecked, now_ns: Unchecked = None) -> None:
        """The venue acknowledged the order; it stays working. Unknown ids are counted."""
        if not self.holds(order_id):
            self.n_unknown_order_events += 1

    def on_cancel_sent(self, order_id: Unchecked, now_ns: Unchecked = None) -> None:
        """A cancel went out: it takes a message token (down to one burst of debt), never blocked."""
        self.n_cancels += 1
        self._mb.force(self._now(now_ns))

    def on_cancelled(self, order_id: Unchecked, now_ns: Unchecked = None) -> None:
        """The order is done (cancelled or expired at the venue): release what is left of it.
        With a replace in flight, either id names it, and both terms are released."""
        self._done(order_id)

    def on_rejected(self, order_id: Unchecked, now_ns: Unchecked = None) -> None:
        """The venue refused the order: release it (old or new id while a replace is in flight)."""
        self._done(order_id)

    def on_replaced(self, new_order_id: Unchecked, now_ns: Unchecked = None) -> None:
        """The venue confirmed the replace: the new terms hold and the order is `new_order_id`."""
        order = self._replacing(new_order_id)
        if order is not None:
            self._settle_replace(order, confirmed=True)

    def on_replace_rejected(self, new_order_id: Unchecked, now_ns: Unchecked = None) -> None:
        """The venue refused the replace: the old terms hold under the old id."""
        order = self._replacing(new_order_id)
        if order is not None:
            self._settle_replace(order, confirmed=False)

    def _replacing(self, new_order_id: object) -> _Order | None:
        order = self._working.get(new_order_id) if type(new_order_id) is str else None
        rep = order.replace if order is not None else None
        if order is None or rep is None or rep.new_id != new_order_id:
            self.n_unknown_order_events += 1
            return None
        return order

    def _done(self, order_id: object) -> None:
        order = self._working.pop(order_id, None) if type(order_id) is str else None
        if order is None:
            self.n_unknown_order_events += 1
            return
        self._finish(order)

    def _finish(self, order: _Order) -> None:
        """Release everything a working order holds: both terms and both ids of a replace."""
        s = order.sym
        rep = order.replace
        reserved = _reserved(order)
        self._working.pop(order.order_id, None)
        if rep is not None:
            if rep.new_id is not None:
                self._working.pop(rep.new_id, None)
            self._drop_price(s, order.buy, rep.new_pkey)
            order.replace = None
        self._release_working(s, order.buy, reserved, order.pkey)
        order.leaves = 0

    def on_fill(
        self,
        symbol: Unchecked,
        side: Side,
        qty: Unchecked,
        price: Unchecked,
        *,
        order_id: Unchecked = None,
        now_ns: Unchecked = None,
    ) -> None:
        """A fill (ours, from the venue): position, average price, realised P&L, throttle, loss,
        and the hard limits, which a fill can break although no approval could.

        A fill that cannot be understood (bad side or quantity, non-finite or non-positive
        price) halts: the overlay no longer knows its position or P&L. With a good side and
        quantity the position is still updated, and the P&L stays unknown (every new order
        is denied NON_FINITE) until `reconcile_position`.

        An *overfill* — more shares than the order named by `order_id` had open at the venue
        (the worst of its old and new terms once a replace is sent) — halts (`OVERFILL: ...`): the
        venue did what was never approved, so nothing it says is trusted until a person
        looks. A filled position past its long, short or gross limit (an overfill, a fill
        the overlay cannot tie to an order, limits tightened under working orders) moves
        ACTIVE to REDUCING (`POSITION_LIMIT: ...`): only orders that bring it back pass, and
        a person re-enables.
        """
        now = self._now(now_ns)
        if now >= self._day_end_ns:
            self._roll_day(now)
        self.n_fills += 1
        if type(symbol) is not str or not symbol:
            self._halt_self(f"NON_FINITE: fill with symbol={symbol!r}", now)
            return
        s = self._sym(symbol)
        if side is not Side.BUY and side is not Side.SELL:
            self._halt_self(f"INVALID_ORDER: fill {symbol} with side={side!r}", now)
            return
        if type(qty) is not int or qty <= 0:
            self._halt_self(f"INVALID_ORDER: fill {symbol} with qty={qty!r}", now)
            return
        buy = side is Side.BUY
        overfill: str | None = None
        # the order's working quantity
        if order_id is not None:
            order = self._working.get(order_id) if type(order_id) is str else None
            if order is None or order.sym is not s or order.buy is not buy:
                self.n_unknown_order_events += 1
            else:
                rep = order.replace
                reserved = _reserved(order)
                # what the venue may fill: both terms once a replace is sent, else the old
                open_qty = reserved if rep is not None and rep.new_id is not None else order.leaves
                if qty > open_qty:
                    overfill = (
                        f"OVERFILL: {symbol} {'BUY' if buy else 'SELL'} fill qty={qty} "
                        f"> open qty={open_qty} of order {order_id!r}"
                    )
                if qty >= open_qty:
                    self._finish(order)
                else:
                    order.leaves = order.leaves - qty if order.leaves > qty else 0
                    if rep is not None:
                        rep.new_leaves = rep.new_leaves - qty if rep.new_leaves > qty else 0
                    if buy:
                        s.open_buy -= reserved - _reserved(order)
                    else:
                        s.open_sell -= reserved - _reserved(order)
        # position and P&L (average cost, in price units)
        number = isinstance(price, int | float) and not isinstance(price, bool)
        px = float(price) if number else _INF  # type: ignore[arg-type]  # number: int | float
        good_price = math.isfinite(px) and px > 0
        signed = qty if buy else -qty
        if s.open_pending and good_price:
            self._open_at(s, px)
        pos = s.pos
        if not good_price:
            s.cost_unknown = True
        elif pos == 0 or (pos > 0) == buy:
            s.avg = (s.avg * abs(pos) + px * qty) / (abs(pos) + qty)
        else:
            closed = qty if qty < abs(pos) else abs(pos)
            gain = (px - s.avg) * closed * (1 if pos > 0 else -1)
            s.realised += gain
            self._realised_total += gain
            if qty > abs(pos):
                s.avg = px
        s.pos = pos + signed
        if s.pos == 0:
            s.avg = 0.0
        self._refresh_worst(s)
        self._mark(s)
        self._recompute_pnl()
        if not good_price:
            self._halt_self(f"NON_FINITE: fill {symbol} qty={qty} price={price!r}", now)
        if overfill is not None:
            self._halt_self(overfill, now)
        self._check_position(s, now)
        # repeated-execution throttle
        times = self._fill_times
        times.append(now)
        cutoff = now - self._fill_window_ns
        while times and times[0] <= cutoff:
            times.popleft()
        if len(times) > self._max_fills and self._killswitch.state is KillState.ACTIVE:
            self._trip(
                self._killswitch.reduce,
                f"FILL_THROTTLE: fills={len(times)} in {self._fill_window_ns // _NS_PER_MS} ms "
                f"> max={self._max_fills}",
                now,
            )
        self._check_loss(now)

    def _check_position(self, s: _Sym, now_ns: int) -> None:
        """A filled position past a hard limit moves ACTIVE to REDUCING, with the numbers."""
        if self._killswitch.state is not KillState.ACTIVE:
            return
        why = None
        listed = "" if s.allowed else " (not on the allow-list)"
        if s.pos > s.max_long:
            why = f"POSITION_LIMIT: {s.name} position={s.pos} > max long={s.max_long}{listed}"
        elif -s.pos > s.max_short:
            why = f"POSITION_LIMIT: {s.name} position={s.pos} > max short={s.max_short}{listed}"
        else:
            gross = sum(abs(x.pos) for x in self._syms.values())
            if gross > self._max_gross:
                why = f"POSITION_LIMIT: filled gross={gross} > max={self._max_gross}"
        if why is not None:
            self._trip(self._killswitch.reduce, why, now_ns)

    def on_market(self, symbol: str, mid: Unchecked, ts_ns: Unchecked) -> None:
        """The reference price: the last mid. A bad one is kept as bad (orders are denied) until
        a good one arrives; it never moves the mark used for P&L."""
        s = self._syms.get(symbol)
        if s is None:
            return
        if type(mid) is float and type(ts_ns) is int and 0.0 < mid < _INF:
            pass  # the per-message case: one test for the checks below (NaN fails it too)
        elif type(ts_ns) is not int:
            s.ref_state = _REF_NONFINITE
            s.mid_raw = f"{mid!r} at ts_ns={ts_ns!r}"
            return
        elif type(mid) is not float and type(mid) is not int:
            s.ref_state = _REF_BAD
            s.mid_raw = mid
            return
        elif not math.isfinite(mid):
            s.ref_state = _REF_NONFINITE
            s.mid_raw = mid
            return
        elif mid <= 0:
            s.ref_state = _REF_BAD
            s.mid_raw = mid
            return
        if ts_ns >= self._day_end_ns:
            self._roll_day(ts_ns)
        s.mid = float(mid)
        s.mid_ts = ts_ns
        s.ref_state = _REF_OK
        if s.open_pending:
            self._open_at(s, s.mid)
        if s.pos:
            old = s.unreal
            self._mark(s)
            self._unreal_total += s.unreal - old
            if not self._pnl_unknown:
                total = self._realised_total + self._unreal_total
                self._pnl = total / PRICE_SCALE - self._baseline
            self._check_loss(ts_ns)

    def _mark(self, s: _Sym) -> None:
        if s.pos == 0:
            s.unreal = 0.0
        elif s.mid > 0:
            s.unreal = s.pos * (s.mid - s.avg)
        else:
            s.unreal = 0.0  # never marked yet: carried at cost

    def _recompute_pnl(self) -> None:
        realised = 0.0
        unreal = 0.0
        unknown = False
        for s in self._syms.values():
            realised += s.realised
            unreal += s.unreal
            unknown = unknown or s.cost_unknown
        self._realised_total = realised
        self._unreal_total = unreal
        pnl = (realised + unreal) / PRICE_SCALE - self._baseline
        self._pnl_unknown = unknown
        self._pnl = math.nan if unknown else pnl

    def _check_loss(self, now_ns: int) -> None:
        breached = not (self._pnl >= self._loss_floor)
        if breached and not self._loss_breached:
            self._loss_breached = True
            if math.isfinite(self._pnl):
                why = f"DAILY_LOSS: loss={-self._pnl:.2f} > max={self._max_loss:.2f}"
            else:
                why = "NON_FINITE: daily P&L is unknown"
            self._halt_self(why, now_ns)
        elif not breached:
            self._loss_breached = False

    def _halt_self(self, why: str, now_ns: int) -> None:
        if self._killswitch.state is not KillState.HALTED:
            self._trip(self._killswitch.halt, why, now_ns)

    def _trip(self, action: Callable[[str, str, int], object], why: str, now_ns: int) -> None:
        """Tighten the switch by itself. The state changes even if the store fails; the
        failure is counted (and shown in metrics), not raised into the feed that caused it."""
        try:
            action(_RISK, why, now_ns)
        except Exception as exc:
            self.n_store_errors += 1
            self.last_store_error = f"{type(exc).__name__}: {exc}"

    # -- day and reconciliation ----------------------------------------------------------

    def new_day(self, who: Unchecked, why: Unchecked, now_ns: Unchecked = None) -> None:
        """Start a new daily-loss period by hand: today's P&L counts from the current marks.

        It does not lift HALTED or REDUCING; that takes `resume` / `re_enable`.
        """
        actor, reason = _attribution("new_day", who, why)
        now = self._now(now_ns)
        day = (
            self._day
            if self._day is not None
            else local_day(now, self._limits.trading_window.tz)[0]
        )
        self._begin_day(day, actor, reason, now)

    def start_days(
        self,
        stored: DayRecord | None,
        on_day: Callable[[DayRecord], None] | None = None,
        now_ns: int | None = None,
    ) -> None:
        """Let the daily-loss period follow the trading day from now on. Call it once, after
        the positions are rebuilt (a restart's recovery): `stored` is the record the last run
        left (its baseline is kept if it is today's), `on_day` is told every new record (the
        service persists it). `now_ns` 0 or None (a venue clock that has not ticked yet): the
        first time seen by `on_market` or `check` decides the day."""
        self._stored_day = stored
        self._on_day = on_day
        self._day = None
        self._day_end_ns = 0
        if now_ns:
            self._roll_day(now_ns)

    def on_time(self, now_ns: int) -> None:
        """The clock moved with nothing to check: a new trading day still begins at its
        midnight (the service's timer calls this; a message or a check rolls it as well), and
        a kill-switch tightening the store failed to save is saved again until it is."""
        if now_ns >= self._day_end_ns:
            self._roll_day(now_ns)
        if not self._killswitch.persisted:
            try:
                self._killswitch.save_pending()
            except Exception as exc:
                self.n_store_errors += 1
                self.last_store_error = f"{type(exc).__name__}: {exc}"

    @property
    def kill_persisted(self) -> bool:
        """False while the kill switch's state has not reached its store (a restart would
        come back in the state the store last saved)."""
        return self._killswitch.persisted

    @property
    def trading_day(self) -> date | None:
        """The day the daily-loss period counts (None before `start_days` has seen a time)."""
        return self._day

    def _roll_day(self, now_ns: int) -> None:
        if now_ns <= 0:
            return
        day, end = local_day(now_ns, self._limits.trading_window.tz)
        self._day_end_ns = end
        current = self._day
        if current is not None and day <= current:
            return  # the clock stepped back: the day does not go back with it
        stored = self._stored_day
        self._stored_day = None
        if current is None and stored is not None and stored.day == day:
            self._restore_day(stored, now_ns)
            return
        self._begin_day(day, "risk", f"trading day {day} began", now_ns)

    def _restore_day(self, stored: DayRecord, now_ns: int) -> None:
        """Today's period after a restart: the stored baseline, and the positions still waiting
        for their first price of the day. A position the last run had marked is carried at
        cost until its first mark here, so the loss is judged at that mark, not now (it
        would read the move since cost as today's)."""
        self._baseline = stored.baseline
        self._day = stored.day
        waiting = ",".join(name for name, _, _ in stored.pending)
        self._audit.append(
            AuditRecord(
                "day_restored", "risk", f"trading day {stored.day} goes on after a restart",
                now_ns, f"baseline={self._baseline:.2f} pending={waiting}",
            )
        )  # fmt: skip
        for name, qty, ref in stored.pending:
            s = self._sym(name)
            s.open_pending, s.open_qty, s.open_ref = True, qty, ref
            if s.mid > 0:  # marked before the period started here: opened at that mark
                self._open_at(s, s.mid)
        self._recompute_pnl()
        if all(s.mid > 0 for s in self._syms.values() if s.pos):
            self._check_loss(now_ns)

    def _begin_day(self, day: date, who: str, why: str, now_ns: int) -> None:
        """Today's P&L counts from the current marks; a position with no mark yet joins the
        baseline at its first price (`_open_at`). With the P&L unknown (a fill at a bad
        price) the known parts still rebase it, so yesterday's P&L never carries over."""
        known = 0.0  # a symbol whose cost is unknown counts its realised part only
        for s in self._syms.values():
            known += s.realised if s.cost_unknown else s.realised + s.unreal
        self._baseline = known / PRICE_SCALE
        self._recompute_pnl()
        self._loss_breached = False
        for s in self._syms.values():
            s.open_pending = s.pos != 0 and not s.mid > 0 and not s.cost_unknown
            s.open_qty, s.open_ref = (s.pos, s.avg) if s.open_pending else (0, 0.0)
        self._day = day
        self._audit.append(
            AuditRecord("new_day", who, why, now_ns, f"baseline={self._baseline:.2f}")
        )
        self._publish_day()

    def _open_at(self, s: _Sym, price: float) -> None:
        """A position carried into the day with no mark: its first price today (a mark, or a
        fill) opens it. The move from its cost (the baseline's provisional reference) to that
        price happened before today, so it joins the baseline rather than today's P&L; only
        the shares carried in count, whatever traded since."""
        s.open_pending = False
        self._baseline += s.open_qty * (price - s.open_ref) / PRICE_SCALE
        self._recompute_pnl()
        self._publish_day()

    def _publish_day(self) -> None:
        if self._on_day is None or self._day is None:
            return
        pending = tuple(
            (s.name, s.open_qty, s.open_ref)
            for s in sorted(self._syms.values(), key=lambda s: s.name)
            if s.open_pending
        )
        try:
            self._on_day(DayRecord(self._day, self._baseline, pending))
        except Exception as exc:  # the period is right in memory; the store says what failed
            self.n_store_errors += 1
            self.last_store_error = f"trading day: {type(exc).__name__}: {exc}"

    def reconcile_position(
        self,
        symbol: Unchecked,
        position: Unchecked,
        avg_price: Unchecked,
        *,
        who: Unchecked,
        why: Unchecked,
        now_ns: Unchecked = None,
        realised: Unchecked = None,
    ) -> None:
        """Set a symbol's position and average price (integer price units) from an outside
        source of truth (the store after a restart, the venue's position report); `realised`,
        when given, its realised P&L today (price units × shares), so a restart keeps it."""
        actor, reason = _attribution("reconcile_position", who, why)
        if type(symbol) is not str or not symbol:
            raise RiskError(f"reconcile_position: symbol={symbol!r} is not a symbol")
        if type(position) is not int:
            raise RiskError(f"reconcile_position: position={position!r} is not an integer")
        if not isinstance(avg_price, int | float) or not math.isfinite(avg_price) or avg_price < 0:
            raise RiskError(f"reconcile_position: avg_price={avg_price!r} is not a finite price")
        if position != 0 and avg_price <= 0:
            raise RiskError("reconcile_position: a non-zero position needs a positive avg_price")
        if realised is not None and (
            not isinstance(realised, int | float) or not math.isfinite(realised)
        ):
            raise RiskError(f"reconcile_position: realised={realised!r} is not a finite amount")
        s = self._sym(symbol)
        s.pos = position
        s.avg = float(avg_price) if position else 0.0
        if realised is not None:
            s.realised = float(realised)
        s.cost_unknown = False
        self._refresh_worst(s)
        self._mark(s)
        self._recompute_pnl()
        now = self._now(now_ns)
        detail = f"{symbol} position={position} avg={avg_price} realised={realised}"
        self._audit.append(AuditRecord("reconcile", actor, reason, now, detail))
        self._check_loss(now)

    # -- views ---------------------------------------------------------------------------

    @property
    def daily_pnl(self) -> float:
        """Realised + unrealised (at mid) since the start of the day, in currency; NaN if unknown."""
        return self._pnl

    @property
    def gross_position(self) -> int:
        return self._gross

    @property
    def working_orders(self) -> int:
        """Working orders, approved-and-not-yet-sent ones included."""
        return self._n_working

    @property
    def audit(self) -> tuple[AuditRecord, ...]:
        return tuple(self._audit)

    def working_order_ids(self) -> list[str]:
        """What the service cancels on HALTED: each order once, by its current id (the old id
        while a replace is in flight)."""
        return [oid for oid, order in self._working.items() if order.order_id == oid]

    def position(self, symbol: str) -> PositionView:
        s = self._syms.get(symbol) or _Sym(symbol)
        return PositionView(
            symbol=symbol,
            position=s.pos,
            avg_price=s.avg / PRICE_SCALE,
            realised_pnl=s.realised / PRICE_SCALE,
            unrealised_pnl=s.unreal / PRICE_SCALE,
            working_buy_qty=s.open_buy,
            working_sell_qty=s.open_sell,
            mid=s.mid / PRICE_SCALE if s.ref_state == _REF_OK else None,
        )

    def symbols(self) -> list[str]:
        return list(self._syms)

    def utilisation(self, now_ns: Unchecked = None) -> Iterator[tuple[str, str, float]]:
        """(limit, symbol or "", used / limit) for each limit; computed when asked (metrics)."""
        now = self._now(now_ns)
        for s in self._syms.values():
            if not s.allowed:
                continue
            yield "long_position", s.name, _ratio(s.pos + s.open_buy, s.max_long)
            yield "short_position", s.name, _ratio(s.open_sell - s.pos, s.max_short)
        yield "gross_position", "", _ratio(self._gross, self._max_gross)
        loss = -self._pnl if math.isfinite(self._pnl) else math.inf
        yield "daily_loss", "", _ratio(loss, self._max_loss)
        yield "working_orders", "", _ratio(self._n_working, self._max_working)
        for name, bucket in (("order_rate", self._ob), ("message_rate", self._mb)):
            yield name, "", (bucket.cap - bucket.peek(now)) / bucket.cap
        cutoff = now - self._fill_window_ns
        recent_fills = sum(1 for t in self._fill_times if t > cutoff)
        yield "fills", "", _ratio(recent_fills, self._max_fills)

    # -- helpers -------------------------------------------------------------------------

    def _sym(self, name: str) -> _Sym:
        s = self._syms.get(name)
        if s is None:
            s = self._syms[name] = _Sym(name)
        return s

    def _now(self, now_ns: Unchecked) -> int:
        """An event's time: as given, or the clock's when not given (or not an integer: an
        event that happened is still recorded; only checks refuse a bad time)."""
        return now_ns if type(now_ns) is int else self._clock()


def _ratio(used: float, limit: float) -> float:
    used = max(used, 0)
    if limit <= 0:
        return 0.0 if used == 0 else math.inf
    return used / limit


def _attribution(action: str, who: object, why: object) -> tuple[str, str]:
    """(who, why) of an operator's action, both non-empty text, or `RiskError`."""
    if not isinstance(who, str) or not who.strip() or not isinstance(why, str) or not why.strip():
        raise RiskError(f"{action} needs who and why (non-empty)")
    return who, why
