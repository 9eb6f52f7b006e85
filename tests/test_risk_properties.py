"""Property-based: arbitrary sequences of intents, replaces, sends, fills, cancels, price moves and
operator actions never get an order past a limit, past the rate, through HALTED or on a
non-finite input.

The test keeps its own ledger (orders sent, fills, cash, last good mid) and judges the overlay
by it, not by the overlay's own numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from rlexec.market.instrument import PRICE_SCALE
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.risk import Approval, ApprovalError, Denial, KillState, RiskOverlay
from rlexec.risk.testing import MID, MS, T0, ManualClock, limits

LIMITS = limits(
    AAPL={"max_long_position": 300, "max_short_position": 200, "max_order_qty": 150},
    MSFT={"max_position": 250, "max_order_qty": 150},
    max_gross_position=450,
    max_working_orders=6,
    max_orders_per_s=10,
    order_burst=4,
    max_messages_per_s=14,
    message_burst=6,
    duplicate_window_ms=200,
    max_reference_age_ms=500,
    max_daily_loss=500.005,  # off the cent grid: a P&L is never within rounding of it
    max_fills=4,
    fill_window_ms=500,
    approval_ttl_ms=300,
)
SYMS = ("AAPL", "MSFT")
BAD_NUMBERS = (math.nan, math.inf, -math.inf)
FLAWS = [
    "qty:nan",
    "qty:inf",
    "qty:-inf",
    "qty:-5",
    "qty:0",
    "qty:10.0",
    "price:nan",
    "price:inf",
    "price:-1",
    "price:0",
    "price:100.5",
    "time:nan",
    "time:inf",
    "symbol:TSLA",
]


@dataclass
class InFlight:
    """A replace sent and not yet answered: either set of terms may fill."""

    new_id: str
    new_leaves: int
    new_price: int | None


@dataclass
class Sent:
    symbol: str
    buy: bool
    leaves: int
    price: int | None = None
    replace: InFlight | None = None

    @property
    def worst(self) -> int:
        return max(self.leaves, self.replace.new_leaves) if self.replace else self.leaves


@dataclass
class Pending:
    approval: Approval
    issued_ns: int
    transitions_at_issue: int
    replace_of: Sent | None = None
    new_leaves: int = 0


def make_intent(symbol: Any, side: Any, qty: Any, otype: Any, price: Any) -> OrderIntent:
    """Any field values at all, as a buggy strategy might produce (bypassing __post_init__)."""
    intent = object.__new__(OrderIntent)
    for key, value in (
        ("symbol", symbol),
        ("side", side),
        ("quantity", qty),
        ("order_type", otype),
        ("price", price),
        ("time_in_force", TimeInForce.DAY),
        ("parent_id", None),
    ):
        object.__setattr__(intent, key, value)
    return intent


def valid_number(value: Any) -> bool:
    return type(value) is int and value > 0


SUBMIT = rule(
    symbol=st.sampled_from(SYMS),
    buy=st.booleans(),
    qty=st.one_of(st.integers(1, 151), st.sampled_from([50, 100, 150])),
    market=st.sampled_from([False, False, False, True]),
    ticks=st.integers(-20, 120),  # mostly passive: away from the mid, on our side
    flaw=st.sampled_from([None] * 50 + FLAWS),
    then=st.sampled_from(["send", "send", "send", "hold", "release"]),
)
FILL = rule(
    pick=st.integers(0, 1000),
    part=st.integers(1, 200),
    ticks=st.integers(-100, 100),
    new_id=st.booleans(),
)


class RiskMachine(RuleBasedStateMachine):
    """Rules are picked uniformly, so submitting and filling have two rules each."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.ov = RiskOverlay(LIMITS, clock=self.clock)
        self.sent: dict[str, Sent] = {}
        self.held: list[Pending] = []
        self.breached = False
        self.pos = dict.fromkeys(SYMS, 0)
        self.cash = dict.fromkeys(SYMS, 0.0)  # in price units × shares
        self.mark: dict[str, float | None] = dict.fromkeys(SYMS, None)
        self.ref_bad = dict.fromkeys(SYMS, True)  # no mid yet
        self.approval_times: list[int] = []
        self.next_id = 0

    @property
    def now(self) -> int:
        return self.clock.now_ns

    def ledger_pnl(self) -> float:
        total = 0.0
        for s in SYMS:
            mark = self.mark[s]
            total += self.cash[s] + (self.pos[s] * mark if mark is not None else 0.0)
        return total / PRICE_SCALE

    # -- rules ---------------------------------------------------------------------------

    @rule(
        ms=st.integers(0, 300),
        extra_ns=st.sampled_from([0, 1, MS - 1]),
        moves=st.tuples(st.integers(-20, 20), st.integers(-20, 20)),
        quote=st.sampled_from([True, True, True, False]),
    )
    def advance(self, ms: int, extra_ns: int, moves: tuple[int, int], quote: bool) -> None:
        """Time passes; usually the market quotes again, a few ticks away."""
        self.clock.advance(ms * MS + extra_ns)
        if quote:
            for symbol, move in zip(SYMS, moves, strict=True):
                ticks = round(((self.mark[symbol] or MID) - MID) / 100) + move
                self.market(symbol, max(-500, min(500, ticks)), None)

    @rule(
        symbol=st.sampled_from(SYMS),
        ticks=st.integers(-500, 500),
        bad=st.sampled_from([None] * 20 + [*BAD_NUMBERS, -1.0, 0.0]),
    )
    def market(self, symbol: str, ticks: int, bad: float | None) -> None:
        if bad is None:
            mid = float(MID + ticks * 100)
            self.ov.on_market(symbol, mid, self.now)
            self.mark[symbol] = mid
            self.ref_bad[symbol] = False
        else:
            self.ov.on_market(symbol, bad, self.now)
            self.ref_bad[symbol] = True

    @initialize()
    def first_mids(self) -> None:
        for symbol in SYMS:
            self.market(symbol, 0, None)

    @SUBMIT
    def submit(
        self,
        symbol: str,
        buy: bool,
        qty: Any,
        market: bool,
        ticks: Any,
        flaw: str | None,
        then: str,
    ) -> None:
        bad_price: Any = None
        bad_time: Any = None
        if flaw is not None:
            what, value = flaw.split(":")
            bad: Any = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(value)
            if bad is None and what != "symbol":
                bad = float(value) if "." in value else int(value)
            if what == "qty":
                qty = bad
            elif what == "price":
                market, bad_price = False, bad
            elif what == "time":
                bad_time = bad
            else:
                symbol = "TSLA"
        mark = self.mark.get(symbol) or float(MID)
        if market:
            otype, price = OrderType.MARKET, None
        elif bad_price is not None:
            otype, price = OrderType.LIMIT, bad_price
        else:
            passive = -ticks if buy else ticks
            otype, price = OrderType.LIMIT, int(mark) + passive * 100
        intent = make_intent(symbol, Side.BUY if buy else Side.SELL, qty, otype, price)
        state_before = self.ov.state
        now: Any = self.now if bad_time is None else bad_time
        decision = self.ov.check(intent, now)
        if isinstance(decision, Denial):
            assert decision.message.startswith(decision.reason.value + ":"), decision
            return
        # -- what an approval may never be
        assert state_before is not KillState.HALTED, decision
        assert bad_time is None
        assert symbol in SYMS
        assert valid_number(qty), qty
        assert price is None or valid_number(price), price
        assert not self.ref_bad[symbol]
        if state_before is KillState.REDUCING or self.ledger_pnl() < -LIMITS.max_daily_loss:
            pos = self.pos[symbol]
            working = sum(
                o.leaves for o in self.sent.values() if o.symbol == symbol and o.buy is buy
            )
            assert (
                (pos < 0 and working + qty <= -pos) if buy else (pos > 0 and working + qty <= pos)
            )
        # -- the order rate never exceeds its token bucket
        self.approval_times.append(self.now)
        burst, rate = LIMITS.order_burst or 0, LIMITS.max_orders_per_s
        for i, t1 in enumerate(self.approval_times):
            count = len(self.approval_times) - i
            assert count * 10**9 <= burst * 10**9 + rate * (self.now - t1), (count, t1)
        pending = Pending(decision, self.now, len(self.ov.history))
        if then == "send":
            self.send_one(pending)
        elif then == "hold":
            self.held.append(pending)
        else:
            assert self.ov.release(decision)

    def send_one(self, pending: Pending) -> None:
        self.next_id += 1
        oid = f"o{self.next_id}"
        try:
            self.ov.on_order_sent(pending.approval, oid, self.now)
        except ApprovalError:
            # void only for a reason: expired, or the switch/limits tightened since
            expired = self.now - pending.issued_ns > LIMITS.approval_ttl_ms * MS
            assert expired or len(self.ov.history) > pending.transitions_at_issue
            return
        assert self.ov.state is not KillState.HALTED
        intent = pending.approval.intent
        self.sent[oid] = Sent(intent.symbol, intent.side is Side.BUY, intent.quantity, intent.price)

    @precondition(lambda self: self.held)
    @rule(pick=st.integers(0, 1000), release=st.booleans())
    def send_or_release_held(self, pick: int, release: bool) -> None:
        pending = self.held.pop(pick % len(self.held))
        if release:
            self.ov.release(pending.approval)
        elif pending.replace_of is not None:
            self.send_replace(pending)
        else:
            self.send_one(pending)

    # -- replaces ------------------------------------------------------------------------

    @precondition(lambda self: self.sent)
    @rule(
        pick=st.integers(0, 1000),
        qty=st.sampled_from([0, -1, *range(1, 152)]),
        reprice=st.sampled_from([False, False, True]),
        ticks=st.integers(-20, 120),
        then=st.sampled_from(["send", "send", "hold", "release"]),
    )
    def replace(self, pick: int, qty: int, reprice: bool, ticks: int, then: str) -> None:
        oid = self.pick_order(pick)
        order = self.sent[oid]
        if reprice:
            mark = self.mark[order.symbol] or float(MID)
            price: int | None = int(mark) + (-ticks if order.buy else ticks) * 100
        else:
            price = order.price
        state_before = self.ov.state
        decision = self.ov.check_replace(oid, qty, price, self.now)
        if isinstance(decision, Denial):
            assert decision.message.startswith(decision.reason.value + ":"), decision
            return
        assert state_before is not KillState.HALTED, decision
        assert order.replace is None  # one replace at a time
        assert valid_number(qty)
        assert decision.replaces == oid and decision.quantity == qty and decision.price == price
        decrease = qty < order.leaves and price == order.price
        if not decrease:
            assert not self.ref_bad[order.symbol]
            if state_before is KillState.REDUCING or self.ledger_pnl() < -LIMITS.max_daily_loss:
                pos = self.pos[order.symbol]
                working = sum(
                    o.worst
                    for o in self.sent.values()
                    if o.symbol == order.symbol and o.buy is order.buy
                )
                delta = max(0, qty - order.leaves)
                assert (
                    (pos < 0 and working + delta <= -pos)
                    if order.buy
                    else (pos > 0 and working + delta <= pos)
                )
            self.approval_times.append(self.now)  # a replace that adds takes an order token
        pending = Pending(decision, self.now, len(self.ov.history), order, qty)
        if then == "send":
            self.send_replace(pending)
        elif then == "hold":
            self.held.append(pending)
        else:
            assert self.ov.release(decision)

    def send_replace(self, pending: Pending) -> None:
        order = pending.replace_of
        assert order is not None
        oid = next((k for k, v in self.sent.items() if v is order), None)
        self.next_id += 1
        new_id = f"o{self.next_id}"
        try:
            self.ov.on_replace_sent(pending.approval, oid or "gone", new_id, self.now)
        except ApprovalError:
            expired = self.now - pending.issued_ns > LIMITS.approval_ttl_ms * MS
            voided = len(self.ov.history) > pending.transitions_at_issue
            assert expired or voided or oid is None
            return
        assert oid is not None and order.replace is None
        assert self.ov.state is not KillState.HALTED
        order.replace = InFlight(new_id, pending.new_leaves, pending.approval.price)

    @precondition(lambda self: any(o.replace for o in self.sent.values()))
    @rule(pick=st.integers(0, 1000), confirm=st.sampled_from([True, True, False]))
    def answer_replace(self, pick: int, confirm: bool) -> None:
        flying = sorted(k for k, o in self.sent.items() if o.replace)
        oid = flying[pick % len(flying)]
        order = self.sent[oid]
        rep = order.replace
        assert rep is not None
        order.replace = None
        if confirm:
            self.ov.on_replaced(rep.new_id, self.now)
            del self.sent[oid]
            order.leaves, order.price = rep.new_leaves, rep.new_price
            if order.leaves:
                self.sent[rep.new_id] = order
        else:
            self.ov.on_replace_rejected(rep.new_id, self.now)
            if not order.leaves:
                del self.sent[oid]

    def pick_order(self, pick: int) -> str:
        return sorted(self.sent)[pick % len(self.sent)]

    @SUBMIT
    def submit_again(self, **kwargs: Any) -> None:
        self.submit(**kwargs)

    @precondition(lambda self: self.sent)
    @FILL
    def fill_again(self, pick: int, part: int, ticks: int, new_id: bool) -> None:
        self.fill(pick, part, ticks, new_id)

    @precondition(lambda self: self.sent)
    @FILL
    def fill(self, pick: int, part: int, ticks: int, new_id: bool) -> None:
        """Up to what may still fill (either set of terms while a replace is in flight),
        against the old or the new id."""
        oid = self.pick_order(pick)
        order = self.sent[oid]
        qty = min(part, order.worst)
        mark = self.mark[order.symbol] or float(MID)
        price = int(mark) + ticks * 100
        side = Side.BUY if order.buy else Side.SELL
        fill_id = order.replace.new_id if order.replace and new_id else oid
        self.ov.on_fill(order.symbol, side, qty, price, order_id=fill_id, now_ns=self.now)
        order.leaves = max(0, order.leaves - qty)
        if order.replace:
            order.replace.new_leaves = max(0, order.replace.new_leaves - qty)
        for held in self.held:
            if held.replace_of is order:
                held.new_leaves = max(0, held.new_leaves - qty)
        signed = qty if order.buy else -qty
        self.pos[order.symbol] += signed
        self.cash[order.symbol] -= signed * price
        if order.worst == 0:
            del self.sent[oid]

    @precondition(lambda self: self.sent)
    @rule(pick=st.integers(0, 1000), reject=st.booleans(), new_id=st.booleans())
    def cancel(self, pick: int, reject: bool, new_id: bool) -> None:
        oid = self.pick_order(pick)
        rep = self.sent[oid].replace
        done_id = rep.new_id if rep and new_id else oid
        if reject:
            self.ov.on_rejected(done_id, self.now)
        else:
            self.ov.on_cancel_sent(oid, self.now)
            self.ov.on_cancelled(done_id, self.now)
        del self.sent[oid]

    @rule(
        action=st.sampled_from(
            [
                "halt",
                "reduce",
                "re_enable",
                "re_enable",
                "resume",
                "resume",
                "resume",
                "resume_reducing",
            ]
        )
    )
    def operator(self, action: str) -> None:
        state = self.ov.state
        if action == "halt":
            self.ov.halt("prop", "test")
        elif action == "reduce" and state is KillState.ACTIVE:
            self.ov.reduce("prop", "test")
        elif action == "re_enable" and state is KillState.REDUCING:
            self.ov.re_enable("prop", "test")
        elif action.startswith("resume") and state is KillState.HALTED:
            to = KillState.REDUCING if action == "resume_reducing" else KillState.ACTIVE
            self.ov.resume("prop", "test", to=to)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def positions_within_limits_in_the_worst_case(self) -> None:
        gross = 0
        for s in SYMS:
            lim = LIMITS.symbols[s]
            buys = sum(o.worst for o in self.sent.values() if o.symbol == s and o.buy)
            sells = sum(o.worst for o in self.sent.values() if o.symbol == s and not o.buy)
            assert self.pos[s] + buys <= lim.max_long_position, (s, self.pos[s], buys)
            assert sells - self.pos[s] <= lim.max_short_position, (s, self.pos[s], sells)
            gross += max(self.pos[s] + buys, sells - self.pos[s])
        assert gross <= LIMITS.max_gross_position

    @invariant()
    def working_orders_within_their_limit(self) -> None:
        assert len(self.sent) <= LIMITS.max_working_orders

    @invariant()
    def a_loss_breach_always_halts(self) -> None:
        breached = self.ledger_pnl() < -LIMITS.max_daily_loss
        if breached and not self.breached:
            assert self.ov.state is KillState.HALTED, self.ledger_pnl()
        self.breached = breached

    @invariant()
    def working_quantities_match_the_ledger(self) -> None:
        """The overlay reserves at least what the ledger has at the venue (plus held approvals)."""
        for s in SYMS:
            p = self.ov.position(s)
            assert p.position == self.pos[s]
            buys = sum(o.worst for o in self.sent.values() if o.symbol == s and o.buy)
            sells = sum(o.worst for o in self.sent.values() if o.symbol == s and not o.buy)
            assert p.working_buy_qty >= buys and p.working_sell_qty >= sells, (s, p, buys, sells)
            if not self.held:
                assert (p.working_buy_qty, p.working_sell_qty) == (buys, sells), (s, p)

    @invariant()
    def no_fill_of_an_approved_order_trips_the_switch(self) -> None:
        """Fills within what was approved never look like an overfill or a breach."""
        for record in self.ov.history:
            assert not record.why.startswith(("OVERFILL", "POSITION_LIMIT")), record

    @invariant()
    def pnl_matches_the_ledger(self) -> None:
        assert math.isclose(self.ov.daily_pnl, self.ledger_pnl(), rel_tol=1e-9, abs_tol=1e-6)

    @invariant()
    def working_orders_match_the_ledger(self) -> None:
        assert set(self.ov.working_order_ids()) == set(self.sent)


RiskMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRiskProperties = RiskMachine.TestCase
