"""The service's control surface: one method per command a person (or the HTTP API) can give.

The HTTP handlers, the `rlexec` client commands and SIGUSR1 all land here, so a command
means the same whatever door it came through. Views are frozen pydantic models: the HTTP
API serialises them as they are and its OpenAPI document is generated from them.

A kill (`kill`) engages HALTED first — from that moment nothing new can pass the overlay —
then cancels every parent and every working child order and says how many cancels went out;
it is synchronous, so it never waits behind queued market data.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from rlexec.risk import IllegalTransitionError, KillState, RiskConfigError
from rlexec.service.config import ParentSpec
from rlexec.service.limits_state import limits_record
from rlexec.service.oms import ChildOrder
from rlexec.service.parents import Parent, ParentState

if TYPE_CHECKING:
    from rlexec.service.runtime import Service

_FROZEN = ConfigDict(frozen=True, extra="forbid")
log = logging.getLogger("rlexec.service")


class ChildView(BaseModel):
    model_config = _FROZEN

    cl_ord_id: str
    state: str
    side: Literal["buy", "sell"]
    quantity: int
    price: float | None
    filled: int
    avg_price: float | None


class ParentView(BaseModel):
    model_config = _FROZEN

    id: str
    state: Literal["pending", "working", "paused", "completed", "cancelled", "failed"]
    symbol: str
    side: Literal["buy", "sell"]
    quantity: int
    filled: int
    avg_price: float | None
    is_bps: float | None
    """Implementation shortfall of the filled part, bps of the arrival mid, + = cost."""
    algo: str
    horizon_s: float
    limit_price: float | None
    max_participation: float | None
    client_id: str | None
    arrival_mid: float | None
    schedule_filled: int
    """What the parent's own schedule would have filled by now: a schedule algo's (twap, vwap,
    ac, pov, ...) target schedule, re-planned over the time left on a resume; an even (TWAP)
    schedule over the horizon for rl (and the other policy algos, and sal), as reference."""
    child_orders: int
    fills: int
    risk_denials: int
    decisions: int
    reason: str
    children: list[ChildView]


class KillView(BaseModel):
    model_config = _FROZEN

    state: Literal["ACTIVE", "REDUCING", "HALTED"]
    cancels_sent: int
    parents_cancelled: int
    persisted: bool = True
    """False: the state took effect here but its store refused it (retried every 100 ms;
    until it lands, a restart would come back in the state the store last saved)."""


class TransitionView(BaseModel):
    model_config = _FROZEN

    from_state: str | None
    to_state: str
    action: str
    who: str
    why: str
    at_ns: int


class PositionView(BaseModel):
    model_config = _FROZEN

    symbol: str
    position: int
    avg_price: float
    realised_pnl: float
    unrealised_pnl: float
    working_buy_qty: int
    working_sell_qty: int
    mid: float | None


class UtilisationView(BaseModel):
    model_config = _FROZEN

    limit: str
    symbol: str
    ratio: float | None
    """used / limit; None when it cannot be computed (an unknown P&L)."""


class RiskView(BaseModel):
    model_config = _FROZEN

    state: Literal["ACTIVE", "REDUCING", "HALTED"]
    history: list[TransitionView]
    positions: list[PositionView]
    utilisation: list[UtilisationView]
    daily_pnl: float | None
    trading_day: str | None
    """The day (YYYY-MM-DD, trading window's time zone) `daily_pnl` counts; None before the
    first time is seen."""
    working_orders: int
    limits: dict[str, object]


class Check(BaseModel):
    model_config = _FROZEN

    ok: bool
    detail: str


class ReadyView(BaseModel):
    model_config = _FROZEN

    ready: bool
    checks: dict[str, Check]


class ParentNotFoundError(KeyError):
    """No parent with that id."""


class Control:
    """The commands. Each returns a view; bad input raises ValueError naming what is wrong."""

    def __init__(self, service: Service) -> None:
        self.service = service

    # -- parents ---------------------------------------------------------------------------

    def submit_parent(self, spec: ParentSpec) -> ParentView:
        """A new parent; the same `client_id` again returns the first parent, never a second."""
        return self.view(self.service.parents.submit(spec))

    def parents(self) -> list[ParentView]:
        return [self.view(p) for p in self.service.parents.parents.values()]

    def parent(self, pid: str) -> ParentView:
        return self.view(self._get(pid))

    def pause_parent(self, pid: str) -> ParentView:
        self._get(pid)
        return self.view(self.service.parents.pause(pid, "requested"))

    def resume_parent(self, pid: str) -> ParentView:
        self._get(pid)
        return self.view(self.service.parents.resume(pid))

    def cancel_parent(self, pid: str) -> ParentView:
        self._get(pid)
        return self.view(self.service.parents.cancel(pid, "requested"))

    def _get(self, pid: str) -> Parent:
        parent = self.service.parents.parents.get(pid)
        if parent is None:
            raise ParentNotFoundError(pid)
        return parent

    # -- the kill switch -------------------------------------------------------------------

    def kill(self, who: str, why: str) -> KillView:
        """HALTED: nothing new passes; every parent is cancelled and every working child too,
        whether or not the store took the new state (a kill is never half done)."""
        service = self.service
        before = service.metrics.sent_cancel.value
        self._tighten_switch("halt", who, why)  # the listener pauses parents, cancels children
        cancelled = service.parents.cancel_all(f"kill by {who}: {why}")
        for child in service.oms.working():
            service.gate.cancel(child)
        sent = int(service.metrics.sent_cancel.value - before)
        return KillView(state="HALTED", cancels_sent=sent, parents_cancelled=cancelled,
                        persisted=service.overlay.kill_persisted)  # fmt: skip

    def reduce(self, who: str, why: str) -> KillView:
        """REDUCING: only orders that reduce a position pass; parents keep working."""
        self._tighten_switch("reduce", who, why)
        return KillView(state=self._state(), cancels_sent=0, parents_cancelled=0,
                        persisted=self.service.overlay.kill_persisted)  # fmt: skip

    def _tighten_switch(self, action: Literal["halt", "reduce"], who: str, why: str) -> None:
        """Tighten the kill switch. It takes effect even when its store refuses the save; that
        failure is logged and left to the timer's retries, not raised, so the command's
        cancels still go out and the caller hears `persisted: false`."""
        overlay = self.service.overlay
        try:
            (overlay.halt if action == "halt" else overlay.reduce)(who, why)
        except IllegalTransitionError:  # who or why missing, or not a move the table has
            raise
        except Exception as exc:
            if overlay.kill_persisted:  # not the store's refusal: nothing took effect
                raise
            log.error("event=kill_switch_not_persisted action=%s who=%r error=%r "
                      "retry=every_100ms", action, who, str(exc))  # fmt: skip

    def resume_trading(self, who: str, why: str, to: Literal["ACTIVE", "REDUCING"]) -> RiskView:
        """Lift HALTED (to ACTIVE or REDUCING) or REDUCING (to ACTIVE); needs who and why."""
        overlay = self.service.overlay
        target = KillState(to)
        if overlay.state is KillState.REDUCING and target is KillState.ACTIVE:
            overlay.re_enable(who, why)
        else:
            overlay.resume(who, why, to=target)
        return self.risk()

    def _state(self) -> Literal["ACTIVE", "REDUCING", "HALTED"]:
        state = self.service.overlay.state
        if state is KillState.HALTED:
            return "HALTED"
        return "REDUCING" if state is KillState.REDUCING else "ACTIVE"

    # -- risk ------------------------------------------------------------------------------

    def risk(self) -> RiskView:
        overlay = self.service.overlay
        pnl = overlay.daily_pnl
        return RiskView(
            state=self._state(),
            history=[
                TransitionView(
                    from_state=t.from_state.value if t.from_state is not None else None,
                    to_state=t.to_state.value,
                    action=t.action,
                    who=t.who,
                    why=t.why,
                    at_ns=t.at_ns,
                )
                for t in overlay.history[-50:]
            ],
            positions=[_position(overlay.position(s)) for s in sorted(overlay.symbols())],
            utilisation=[
                UtilisationView(
                    limit=limit, symbol=symbol, ratio=ratio if math.isfinite(ratio) else None
                )
                for limit, symbol, ratio in overlay.utilisation()
            ],
            daily_pnl=pnl if math.isfinite(pnl) else None,
            trading_day=None if overlay.trading_day is None else overlay.trading_day.isoformat(),
            working_orders=overlay.working_orders,
            limits=overlay.limits.model_dump(mode="json"),
        )

    def tighten(
        self, who: str, why: str, changes: dict[str, Any],
        symbols: dict[str, dict[str, object] | None] | None = None,
    ) -> RiskView:  # fmt: skip
        """Install stricter limits; a loosening raises `LimitLooseningError` naming the key."""
        for key in ("who", "why", "symbols", "now_ns"):  # the call's own arguments, not limits
            if key in changes:  # (now_ns would let a caller date the audit record)
                raise RiskConfigError(f"changes.{key}", "not a limit (give it beside changes)")
        service = self.service
        limits = service.overlay.tighten(who=who, why=why, symbols=symbols, **changes)
        # kept across a restart on the same configuration (`service.limits_state`)
        service.store.put_limits(limits_record(service.configured_limits, limits, who, why,
                                               service.clock.now_ns()))  # fmt: skip
        service.metrics.limit_changes.inc()
        log.warning("event=limits_tightened who=%r why=%r changes=%r symbols=%r",
                    who, why, changes, symbols)  # fmt: skip
        return self.risk()

    # -- health ----------------------------------------------------------------------------

    def ready(self) -> ReadyView:
        service = self.service
        now = service.clock.now_ns()
        stale_ns = round(service.settings.stale_after_s * 1e9)
        checks = {
            "fix_orders": _check(service.order_session.is_logged_on, "order session logged on"),
            "fix_market_data": _check(
                service.md_session.is_logged_on, "market-data session logged on"
            ),
        }
        for symbol, market in service.markets.items():
            fresh = market.fresh(now, stale_ns)
            why = "fresh" if fresh else market.unfresh_reason(now, stale_ns)
            checks[f"market_data_{symbol}"] = Check(ok=fresh, detail=why)
        store_ok, store_detail = service.store_health()
        checks["store"] = Check(ok=store_ok, detail=store_detail)
        checks["kill_switch_saved"] = _check(
            service.overlay.kill_persisted, f"kill switch {service.overlay.state.value} saved"
        )
        checks["model"] = Check(ok=True, detail=service.policy.path.name)
        return ReadyView(ready=all(c.ok for c in checks.values()), checks=checks)

    # -- views -----------------------------------------------------------------------------

    def view(self, p: Parent) -> ParentView:
        now = self.service.clock.now_ns()
        spec = p.spec
        children = [_child(c) for c in self.service.oms.all() if c.parent_id == p.id]
        return ParentView(
            id=p.id, state=_parent_state(p.state), symbol=spec.symbol, side=spec.side,
            quantity=spec.quantity, filled=p.filled, avg_price=p.avg_price, is_bps=p.is_bps,
            algo=spec.algo, horizon_s=spec.horizon_s, limit_price=spec.limit_price,
            max_participation=spec.max_participation, client_id=spec.client_id,
            arrival_mid=p.ex.state.arrival_mid / 10_000 if p.ex is not None else None,
            schedule_filled=p.schedule_filled(now), child_orders=p.children, fills=p.fills,
            risk_denials=p.denials, decisions=p.decisions, reason=p.reason, children=children,
        )  # fmt: skip


def _check(ok: bool, what: str) -> Check:
    return Check(ok=ok, detail=what if ok else f"not {what}")


def _parent_state(
    state: ParentState,
) -> Literal["pending", "working", "paused", "completed", "cancelled", "failed"]:
    states: dict[ParentState, Literal[
        "pending", "working", "paused", "completed", "cancelled", "failed"
    ]] = {
        ParentState.PENDING: "pending", ParentState.WORKING: "working",
        ParentState.PAUSED: "paused", ParentState.COMPLETED: "completed",
        ParentState.CANCELLED: "cancelled", ParentState.FAILED: "failed",
    }  # fmt: skip
    return states[state]


def _child(c: ChildOrder) -> ChildView:
    return ChildView(
        cl_ord_id=c.cl_ord_id, state=c.state.value, side="buy" if int(c.side) > 0 else "sell",
        quantity=c.quantity, price=c.price / 10_000 if c.price is not None else None,
        filled=c.cum_qty, avg_price=c.avg_px / 10_000 if c.cum_qty else None,
    )  # fmt: skip


def _position(v: object) -> PositionView:
    from rlexec.risk import PositionView as RiskPosition

    assert isinstance(v, RiskPosition)
    return PositionView(
        symbol=v.symbol, position=v.position, avg_price=v.avg_price,
        realised_pnl=v.realised_pnl if math.isfinite(v.realised_pnl) else 0.0,
        unrealised_pnl=v.unrealised_pnl if math.isfinite(v.unrealised_pnl) else 0.0,
        working_buy_qty=v.working_buy_qty, working_sell_qty=v.working_sell_qty, mid=v.mid,
    )  # fmt: skip
