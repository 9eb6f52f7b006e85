"""The live service: the composition root that wires market data, features, algos, the risk
overlay, the OMS and FIX order entry into one asyncio process.

Synchronous inside, async at the edges: a market-data message runs book → features →
due decisions → risk → OrderGate → NewOrderSingle bytes in one call chain inside the FIX
session's receive path; execution reports run gateway → OMS → risk overlay → parent
progress the same way. Only the FIX sessions, the HTTP endpoint, the audit writer and a
100 ms housekeeping timer are coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from prometheus_client import CollectorRegistry

from rlexec import native
from rlexec.gateway.codec import COMPILED as FIX_CODEC_COMPILED
from rlexec.gateway.config import SessionConfig
from rlexec.gateway.errors import GatewayError
from rlexec.gateway.execution import CancelRejectEvent, ExecKind, ExecutionEvent
from rlexec.gateway.initiator import FixInitiator
from rlexec.gateway.md_client import MarketDataClient, MarketDataListener
from rlexec.gateway.metrics import GatewayMetrics
from rlexec.gateway.order_client import OrderClient, OrderEvents
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore, SessionStore
from rlexec.gateway.store_file import FileStore
from rlexec.market.book import L2Book
from rlexec.market.errors import RlexecError
from rlexec.market.events import Trade
from rlexec.models.algo_registry import AlgoContext
from rlexec.models.algo_registry import make_algo as make_named_algo
from rlexec.models.algos import Algo, PolicyAlgo, VwapAlgo
from rlexec.models.contract import META_TRAINING
from rlexec.models.market_stats import MarketStats
from rlexec.models.policy import DEFAULT_MODEL, OnnxPolicy
from rlexec.models.port import ExecutionPort
from rlexec.models.volume_profile import IntradayProfile
from rlexec.risk import KillState, RiskLimits, RiskOverlay, Transition, load_limits
from rlexec.risk.day import DayRecord
from rlexec.risk.monitors import MonitorConfig, MonitorSet
from rlexec.risk.window import day_start_ns
from rlexec.service.audit import AuditLog
from rlexec.service.auth import Tokens
from rlexec.service.clock import make_clock
from rlexec.service.config import ParentSpec, ServiceSettings, default_limits
from rlexec.service.control import Control
from rlexec.service.drift import DriftMonitor
from rlexec.service.gate import OrderGate
from rlexec.service.limits_state import cleared_record, restore_limits
from rlexec.service.market import SymbolMarket
from rlexec.service.metrics import ServiceMetrics
from rlexec.service.oms import AlertCode, ChildOrder, ChildState, Oms
from rlexec.service.oms import to_dict as child_record
from rlexec.service.parents import Parent, ParentManager, ParentState
from rlexec.service.recovery import Recovery, id_prefix, id_sequence, parent_record
from rlexec.service.retention import Selection, add_fills, select
from rlexec.service.state import Archived, Carry, StateStore
from rlexec.service.state_ids import ClOrdIdAllocator, IdsExhausted
from rlexec.service.state_memory import MemoryStateStore
from rlexec.service.state_redis import RedisStateStore

log = logging.getLogger("rlexec.service")
NEW_YORK = ZoneInfo("America/New_York")

HALT_ALERTS = frozenset({AlertCode.OVERFILL, AlertCode.MISSED_FILL, AlertCode.REPORT_MISMATCH})
"""OMS alerts after which the service no longer trusts its position: the kill switch halts."""
CANCEL_RETRY_S = 1.0
"""After a rejected cancel of a child that must not stay live (halted, its parent done)."""
STATUS_ASK_AGAIN_S = 5.0
"""An order-status question with no answer (a venue that rejects it) may be asked again."""
HOUSEKEEPING_LOG_EVERY_S = 60.0
"""A housekeeping step failing the same way every 100 ms is logged once this often (counted
every time)."""


class ServiceError(RlexecError):
    """The service cannot start or run: says which part and why."""


class StartInterruptedError(ServiceError):
    """A stop was asked for (SIGTERM) while the service waited for its FIX logons; it stopped.
    `left_working`: children restored from the state that could not be cancelled."""

    def __init__(self, message: str, left_working: int) -> None:
        super().__init__(message)
        self.left_working = left_working


class Service(MarketDataListener, OrderEvents):
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        limits: RiskLimits | None = None,
        stats: MarketStats | None = None,
        registry: CollectorRegistry | None = None,
        store: StateStore | None = None,
        monitors: MonitorConfig | None = None,
    ) -> None:
        self.settings = settings
        symbols = list(settings.symbols)
        if limits is None:
            limits = load_limits(settings.risk_config) if settings.risk_config else None
        if limits is None:
            if not symbols:
                raise ServiceError("no symbols to trade: give --symbols or a risk config")
            limits = default_limits(symbols, env=os.environ)  # RLEXEC_RISK_* apply over them
        if not symbols:
            symbols = sorted(limits.symbols)
        unknown = [s for s in symbols if s not in limits.symbols]
        if unknown:
            where = settings.risk_config or "the limits given"
            raise ServiceError(f"risk limits ({where}) have no table for {', '.join(unknown)}")
        self.symbols = symbols
        self.configured_limits = limits
        """The limits the service was started with (before any tightening through the API)."""
        self._gap_keys: set[tuple[str, str]] = set()
        """(symbol, algo) of the schedule-gap gauges set so far."""
        self.stats = stats
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = ServiceMetrics(self.registry)
        self.gateway_metrics = GatewayMetrics(self.registry)
        self.clock = make_clock(settings.clock)
        now = self.clock.now_ns
        self.store = (
            store
            if store is not None
            else make_state_store(
                settings.state, self._store_overflow, settings.state_archive_days * 86_400 or None
            )
        )
        memory = settings.state == "memory"
        self.overlay = RiskOverlay(
            limits, store=self.store.kill_switch_store(), clock=now, registry=self.registry,
            initialise=memory or settings.initialise,
        )  # fmt: skip
        self.overlay.killswitch.add_listener(self._on_kill_transition)
        # dynamic risk (issue 14): fed the same events as the overlay, can only tighten
        self.monitors = MonitorSet(
            monitors or MonitorConfig(), symbols, overlay=self.overlay, registry=self.registry
        )
        model = settings.model or DEFAULT_MODEL
        self.policy = OnnxPolicy(model)  # refuses a model whose features differ, naming them
        norm = self.policy.normaliser
        self.drift = DriftMonitor(self.policy.feature_names, norm.mean.tolist(), norm.std.tolist())
        training = _training_record(self.policy)
        self.metrics.model_info.labels(
            name=self.policy.path.name,
            sha256=hashlib.sha256(self.policy.path.read_bytes()).hexdigest()[:16],
            training_window=str(training.get("settings", {}).get("window", "unknown")),
        ).set(1)
        self.metrics.policy_compiled.set(1 if self.policy.runtime == "compiled" else 0)
        self.metrics.compiled_modules.set(len(native.compiled()))
        if self.stats is None and training.get("stats"):
            # VWAP / POV / Almgren–Chriss fall back on the statistics the model was trained with
            self.stats = MarketStats(
                **{**training["stats"], "profile": tuple(training["stats"]["profile"])}
            )
        self.audit = AuditLog(settings.audit_log)
        self.order_session = FixSession(
            self._session_config(settings.sender), self._store(settings.sender),
            metrics=self.gateway_metrics,
        )  # fmt: skip
        self.md_session = FixSession(
            self._session_config(settings.md_sender), self._store(settings.md_sender),
            metrics=self.gateway_metrics,
        )  # fmt: skip
        self.client = OrderClient(self.order_session, self)
        self.md = MarketDataClient(self.md_session, self)
        self.markets: dict[str, SymbolMarket] = {}
        for symbol in symbols:
            self.md.subscribe(symbol)
            market = SymbolMarket(
                symbol, self.md.books[symbol], settings.tick_size,
                self.policy.signal.feature_config if self.policy.signal is not None else None,
            )  # fmt: skip
            market.updates = self.metrics.md_messages.labels(symbol=symbol)
            self.markets[symbol] = market
        self.oms = Oms(self, now)
        self.gate = OrderGate(self.client, self.oms, self.overlay, now, self.metrics)
        self.parents = ParentManager(
            self.markets, self.oms, self.gate, self.overlay, now, self.metrics, self.audit,
            self.make_algo, decision_interval_s=settings.decision_interval_s,
            stale_after_s=settings.stale_after_s, tick=settings.tick_size, lot=settings.lot_size,
        )  # fmt: skip
        self.parents.monitors = self.monitors
        self.parents.signal = self.policy.signal
        self.allocators: dict[str, ClOrdIdAllocator] = {}
        self.gate.next_id = self._next_id
        self.gate.persist = self.persist_child
        self.parents.persist = self.persist_parent
        self.parents.on_new = self._reserve_ids
        self.parents.ready = self.ids_ready
        self.parents.on_policy = self._after_policy
        self._inference: list[float] = []
        """Inference times (s) not yet in the metrics (see `_record_inference`)."""
        self.recovery: Recovery | None = None
        self.recovered: dict[str, int] = {}
        self._status_asked: dict[str, float] = {}
        """ClOrdID → when (monotonic s) its unanswered OrderStatusRequest went out."""
        self._carry: dict[str, Carry] = {}
        """The archived fills' sums, as stored (`service.retention`)."""
        self._archived_day: date | None = None
        """The trading day whose start the last archiving pass looked back from."""
        self._housekeeping_errors: dict[str, tuple[str, float, int]] = {}
        """Step → (its last error logged, when (monotonic s), errors not logged since)."""
        self._stopping = False
        self._reconcile_on_logon = False
        """Set once started: a later order-session logon asks the status of every open child
        (the venue may have restarted and forgotten them; start-up recovery asks its own)."""
        self.control = Control(self)
        self._initiators: list[FixInitiator] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None
        """The state store's write-behind task: ended after the store is closed, not before."""
        self._runner: web.AppRunner | None = None
        self.api_port: int | None = None
        self.stopped = asyncio.Event()

    # -- construction helpers -------------------------------------------------------------

    def _session_config(self, sender: str) -> SessionConfig:
        s = self.settings
        persistent = s.fix_store is not None or s.state != "memory"
        return SessionConfig(
            sender, s.target, heartbeat_interval=float(s.heartbeat_s),
            reset_on_logon=not persistent,
            password=s.password.get_secret_value() if s.password is not None else None,
            reconnect_min=0.5, reconnect_max=5.0,
        )  # fmt: skip

    def _store(self, sender: str) -> SessionStore:
        s = self.settings
        if s.fix_store is not None:
            return FileStore.for_session(s.fix_store, "FIX.4.4", sender, s.target)
        if s.state != "memory":
            return self.store.session_store("FIX.4.4", sender, s.target)
        return MemoryStore()

    # -- state ----------------------------------------------------------------------------

    def persist_child(self, child: ChildOrder) -> None:
        self.store.put_child(child.cl_ord_id, child_record(child))

    def persist_parent(self, parent: Parent) -> None:
        self.store.put_parent(parent.id, parent_record(parent))

    def _next_id(self, parent_id: str | None) -> str:
        allocator = self.allocators.get(parent_id or "")
        if allocator is None:
            raise IdsExhausted(f"no ClOrdID block reserved for parent {parent_id}")
        return allocator.next()

    def _reserve_ids(self, parent: Parent) -> None:
        """A parent's own ClOrdID counter (`{parent id}.{n}`), its first block reserved
        durably before the parent may start."""
        allocator = ClOrdIdAllocator(self.store, id_prefix(parent.id), block=ID_BLOCK,
                                     low_water=ID_LOW_WATER, sequence=id_sequence(parent.id))  # fmt: skip
        self.allocators[parent.id] = allocator
        task = asyncio.get_running_loop().create_task(self._start_allocator(parent, allocator))
        self._tasks.append(task)

    async def _start_allocator(self, parent: Parent, allocator: ClOrdIdAllocator) -> None:
        try:
            await allocator.start()
        except RlexecError as exc:
            log.error("event=id_block_failed parent=%s error=%r", parent.id, str(exc))
            return
        self.parents.on_market(parent.spec.symbol, self.clock.now_ns())

    def _after_policy(
        self, symbol: str, observation: list[float], action: int | None, now_ns: int
    ) -> None:
        self._record_inference()
        self.drift.observe(observation)
        self.monitors.on_action(symbol, action, now_ns)

    def _record_inference(self) -> None:
        """The inference time(s) and imputed features of the decision just made, into the
        metrics: after its orders are on the wire, not between the model and the order."""
        timed = self._inference
        if timed:
            for seconds in timed:
                self.metrics.inference.observe(seconds)
            timed.clear()
        imputed = self.policy.last_imputed
        if imputed:
            self.metrics.imputed.inc(imputed)

    def ids_ready(self, parent: Parent) -> bool:
        allocator = self.allocators.get(parent.id)
        return allocator is not None and allocator.current is not None

    def _restore_limits(self, stored: Mapping[str, Any] | None) -> None:
        """Tightenings made through the API before a restart hold again, unless the
        configuration changed since or `drop_tightened_limits` says otherwise."""
        outcome = restore_limits(self.overlay, self.configured_limits, stored,
                                 enabled=not self.settings.drop_tightened_limits)  # fmt: skip
        if outcome == "restored":
            assert stored is not None
            log.warning("event=limits_restored who=%r why=%r limits=%s", stored.get("who"),
                        stored.get("why"), self.overlay.limits.model_dump_json())  # fmt: skip
        elif outcome != "none":
            why = ("the configuration changed since" if outcome == "config_changed"
                   else "drop_tightened_limits")  # fmt: skip
            log.warning("event=limits_tightening_dropped reason=%r", why)
            self.store.put_limits(cleared_record(self.configured_limits, why,
                                                 self.clock.now_ns()))  # fmt: skip

    def _store_overflow(self, reason: str) -> None:
        """The state store's queue is full: stop trading rather than lose state."""
        log.error("event=state_store_overflow reason=%r action=halt", reason)
        try:
            self.overlay.halt("state-store", f"write-behind queue full: {reason}")
        except RlexecError as exc:  # the halt took effect; only its save failed
            log.error("event=halt_not_saved error=%r", str(exc))

    def make_algo(self, spec: ParentSpec) -> Algo:
        name = spec.algo
        lot = self.settings.lot_size
        if name == "rl":
            decide = self.policy.decide
            timed = self._inference
            clock = time.perf_counter
            monitors, symbol = self.monitors, spec.symbol

            def choose(obs: list[float] | Any) -> int | None:
                started = clock()
                decision = decide(obs)
                # recorded in the metrics by `_after_policy`, once the orders are out
                timed.append(clock() - started)
                return None if decision is None else decision.index

            return PolicyAlgo("rl", choose, lot, trusted=partial(monitors.trusted, symbol),
                              signal=self.policy.signal)  # fmt: skip
        stats = self.stats
        if name == "vwap" and stats is not None:
            return LiveVwapAlgo(IntradayProfile.from_stats(stats))
        context = AlgoContext(stats, interval_s=self.settings.decision_interval_s)
        try:
            return make_named_algo(name, context)
        except ValueError as exc:
            hint = "; this service was started without them — use rl, twap, twap_inside, passive_first or sal"
            raise ServiceError(f"{exc}{hint if stats is None else ''}") from None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(
        self, logon_timeout: float = 15.0, interrupt: asyncio.Event | None = None
    ) -> None:
        """Open the state, log on to the venue, recover, serve the API. `interrupt` set while
        the logons are awaited (a SIGTERM) stops it there: StartInterruptedError."""
        s = self.settings
        tokens = self._api_preflight()  # a bad API address or token file: refused before logon
        await self.store.open()
        state = await self.store.load()
        self._restore_limits(state.limits)
        self._writer = asyncio.create_task(self.store.run())
        self.recovery = Recovery(self, state)
        self.recovery.restore_records()
        for session in (self.order_session, self.md_session):
            initiator = FixInitiator(session, s.venue_host, s.venue_port)
            await initiator.start()
            self._initiators.append(initiator)
        try:
            async with asyncio.timeout(logon_timeout):
                await self._logons(interrupt)
        except TimeoutError:
            await self.stop()
            raise ServiceError(
                f"no FIX logon with {s.venue} within {logon_timeout:g} s "
                f"(sender {s.sender}/{s.md_sender}, target {s.target})"
            ) from None
        if interrupt is not None and interrupt.is_set():
            stopped = await self.stop(grace_s=min(2.0, s.shutdown_grace_s))
            raise StartInterruptedError(f"stopped while waiting for the FIX logon with {s.venue}",
                                   stopped["left_working"])  # fmt: skip
        self.recovered = await self._recover()
        self._reconcile_on_logon = True
        self._tasks.append(asyncio.create_task(self._housekeeping()))
        await self.start_api(tokens)
        codec = "compiled" if FIX_CODEC_COMPILED else "python"
        log.info("event=service_started venue=%s symbols=%s clock=%s model=%s api=%s "
                 "fix_codec=%s policy_runtime=%s policy_runtime_reason=%r compiled_modules=%d/%d",
                 s.venue, ",".join(self.symbols), s.clock, self.policy.path.name,
                 f"{s.api_host}:{self.api_port}", codec, self.policy.runtime,
                 self.policy.runtime_reason, len(native.compiled()),
                 len(native.MODULES))  # fmt: skip
        for name in native.stale():  # an edit that is not what runs: say so, loudly
            log.warning("event=compiled_module_stale module=%s action=rebuild "
                        "hint=%r", name, "python setup.py build_ext --inplace")  # fmt: skip

    async def _logons(self, interrupt: asyncio.Event | None) -> None:
        """Both sessions logged on, or `interrupt` set, whichever comes first."""
        waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._logged_on())]
        if interrupt is not None:
            waits.append(asyncio.ensure_future(interrupt.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _logged_on(self) -> None:
        await self.order_session.wait_logged_on()
        await self.md_session.wait_logged_on()

    async def _recover(self) -> dict[str, int]:
        """After a restart: ids for the parents still to finish, then `Recovery.run`."""
        recovery = self.recovery
        assert recovery is not None
        for parent in self.parents.parents.values():
            if not parent.state.is_terminal and parent.id not in self.allocators:
                allocator = ClOrdIdAllocator(self.store, id_prefix(parent.id), block=ID_BLOCK,
                                             low_water=ID_LOW_WATER,
                                             sequence=id_sequence(parent.id))  # fmt: skip
                await allocator.start()
                self.allocators[parent.id] = allocator
        result = await recovery.run()
        self.recovery = None
        # The daily-loss period starts once the positions are rebuilt and before any parent
        # resumes: today's record goes on, another day's starts afresh from here.
        self.overlay.start_days(recovery.state.day, self._on_trading_day, self.clock.now_ns())
        self._carry = dict(recovery.state.carry)
        self._archive_finished()
        if self.settings.resume_parents:
            for parent in list(self.parents.parents.values()):
                if parent.state is ParentState.PAUSED and parent.reason != "requested":
                    self.parents.resume(parent.id)
        return result

    def _on_trading_day(self, record: DayRecord) -> None:
        """The overlay began a trading day, or a carried position's first price moved its
        baseline: persisted so a restart today goes on counting the same P&L."""
        self.store.put_day(record)
        log.info("event=trading_day day=%s baseline=%.2f daily_pnl=%.2f", record.day.isoformat(),
                 record.baseline, self.overlay.daily_pnl)  # fmt: skip

    def _archive_finished(self) -> None:
        """Once per trading day: parents and children that ended before it leave the live
        state for the store's archive (`service.retention`), their fills summed into the
        carry that positions are rebuilt from."""
        day = self.overlay.trading_day
        if day is None or day == self._archived_day:
            return
        self._archived_day = day
        before_ns = day_start_ns(day, self.overlay.limits.trading_window.tz)
        chosen = select(self.parents.parents.values(), self.oms.all(), before_ns)
        if not chosen.parents and not chosen.children:
            return
        try:
            done = self._archive(day, chosen)
        except Exception as exc:  # the timer must go on; tomorrow's pass tries again
            log.error("event=state_archive_failed day=%s error=%r", day.isoformat(), str(exc))
            return
        archived = self.metrics.state_archived
        archived.labels(kind="parent").inc(done.parents)
        archived.labels(kind="child").inc(done.children)
        archived.labels(kind="fill").inc(done.fills)
        log.info("event=state_archived day=%s parents=%d children=%d fills=%d", done.day,
                 done.parents, done.children, done.fills)  # fmt: skip

    def _archive(self, day: date, chosen: Selection) -> Archived:
        for parent in chosen.parents:  # their unused ids close through the ordered queue
            allocator = self.allocators.pop(parent.id, None)
            if allocator is not None:
                allocator.retire()
        carry = add_fills(self._carry, chosen.children)
        done = self.store.archive(
            day.isoformat(),
            [p.id for p in chosen.parents],
            [c.cl_ord_id for c in chosen.children],
            [id_sequence(p.id) for p in chosen.parents],
            carry,
        )
        self._carry = carry
        self.oms.discard(chosen.children)
        self.parents.discard(chosen.parents)
        for child in chosen.children:
            self.gate.risk_ids.pop(child.cl_ord_id, None)
            self._status_asked.pop(child.current_cl_ord_id, None)
        return done

    async def stop(self, grace_s: float | None = None) -> dict[str, int]:
        """Graceful: no new orders, cancel every working child, wait for the venue to confirm,
        log out. Returns what was left working (0 when the venue confirmed everything)."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        self._stopping = True
        before = self.metrics.sent_cancel.value
        self.parents.pause_all("shutdown")  # pausing a parent cancels its children
        for child in self.oms.working():
            self.gate.cancel(child)
        deadline = time.monotonic() + grace
        while self.oms.working() and time.monotonic() < deadline:
            if not self.order_session.is_logged_on:
                break
            for child in self.oms.working():  # those whose replace was in flight, now free
                if child.pending_cl_ord_id is None:
                    self.gate.cancel(child)
            await asyncio.sleep(0.02)
        cancels = int(self.metrics.sent_cancel.value - before)
        left = len(self.oms.working())
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # it died earlier: said here, and the shutdown goes on
                log.error("event=background_task_failed task=%s error=%r", _task_name(task),
                          f"{type(exc).__name__}: {exc}", exc_info=exc)  # fmt: skip
        self._tasks.clear()
        for initiator in self._initiators:
            await initiator.stop(grace=2.0)
        self._initiators.clear()
        for allocator in self.allocators.values():
            allocator.retire()
        try:  # flushes; the writer then ends by itself (never cancelled mid-write)
            await self.store.close()
        except RlexecError as exc:
            log.error("event=state_store_close_failed error=%r", str(exc))
        await self._end_writer()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.audit.flush()
        log.info("event=service_stopped cancels_sent=%d left_working=%d", cancels, left)
        self.stopped.set()
        return {"cancels_sent": cancels, "left_working": left}

    async def _end_writer(self, within_s: float = 2.0) -> None:
        """The write-behind task, once the store is closed: it returns when its queue is empty;
        one still retrying an unreachable backend is cancelled. Shutdown never waits on it
        for longer than `within_s`."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if not writer.done():
            done, _ = await asyncio.wait({writer}, timeout=0.2)
            if not done:
                writer.cancel()
                done, _ = await asyncio.wait({writer}, timeout=within_s)
                if not done:
                    log.error("event=state_writer_not_stopped within_s=%.1f", within_s)
                    return
        if not writer.cancelled() and writer.exception() is not None:
            log.error("event=state_writer_failed error=%r", str(writer.exception()))

    async def _housekeeping(self) -> None:
        """Every 100 ms: time-driven decisions (the wall clock moves without market data),
        market-data freshness, the trading-day roll and archiving, the audit writer and the
        gauges. Each step is guarded on its own: an exception is logged and counted
        (`housekeeping_errors_total{step}`) and the timer goes on at the next tick."""
        stale_ns = round(self.settings.stale_after_s * 1e9)
        heard: dict[str, tuple[int, float]] = {}
        """Symbol → (its last update's time, the wall time that update was first seen)."""
        while True:
            await asyncio.sleep(0.1)
            self._housekeep(stale_ns, heard)

    def _housekeep(self, stale_ns: int, heard: dict[str, tuple[int, float]]) -> None:
        """One housekeeping tick (see `_housekeeping`): never raises."""
        now = self.clock.now_ns()
        wall = time.monotonic()
        for symbol, market in self.markets.items():  # one symbol's trouble spares the others
            self._guarded("market", self._housekeep_market, symbol, market, now, wall, stale_ns,
                          heard)  # fmt: skip
        self._guarded("audit", self.audit.flush)
        self._guarded("drift", self._housekeep_drift, now)
        self._guarded("day", self._housekeep_day, now)
        self._guarded("parents", self.parents.expire, now)  # paused or pending past the horizon
        self._guarded("gauges", self._risk_gauges, now)
        self._guarded("monitors", self.monitors.on_time, now)
        self._guarded("store", self._housekeep_store)

    def _housekeep_market(
        self, symbol: str, market: SymbolMarket, now: int, wall: float, stale_ns: int,
        heard: dict[str, tuple[int, float]],
    ) -> None:  # fmt: skip
        last, since = heard.get(symbol, (-1, wall))
        if market.last_update_ns != last:
            last, since = market.last_update_ns, wall
            heard[symbol] = (last, since)
        silent_s = wall - since
        self._silence(symbol, market, silent_s)
        age = (now - market.last_update_ns) / 1e9 if market.last_update_ns else 0.0
        self.metrics.md_age.labels(symbol=symbol).set(max(0.0, age, silent_s))
        fresh = market.fresh(now, stale_ns)
        self.metrics.md_stale.labels(symbol=symbol).set(0 if fresh else 1)
        self.parents.on_market(symbol, now)

    def _housekeep_drift(self, now: int) -> None:
        scores = self.drift.scores()
        for feature, score in scores.items():
            self.metrics.drift.labels(feature=feature).set(score)
        self.monitors.on_drift(scores, now)

    def _housekeep_day(self, now: int) -> None:
        self.overlay.on_time(now)  # a new trading day begins at midnight, traffic or not
        self._archive_finished()

    def _housekeep_store(self) -> None:
        self.metrics.store_queue.set(self.store.queue_depth)
        self.metrics.store_errors.set(self.store.errors)

    def _guarded(self, step: str, fn: Callable[..., object], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            self._housekeeping_failed(step, exc)

    def _housekeeping_failed(self, step: str, exc: Exception) -> None:
        """Counted every time; logged with its traceback when it differs from the step's last
        error or `HOUSEKEEPING_LOG_EVERY_S` after that was logged (not ten lines a second)."""
        self.metrics.housekeeping_errors.labels(step=step).inc()
        text = f"{type(exc).__name__}: {exc}"
        wall = time.monotonic()
        last = self._housekeeping_errors.get(step)
        if last is not None and last[0] == text and wall - last[1] < HOUSEKEEPING_LOG_EVERY_S:
            self._housekeeping_errors[step] = (text, last[1], last[2] + 1)
            return
        self._housekeeping_errors[step] = (text, wall, 0)
        log.error("event=housekeeping_error step=%s error=%r not_logged_since_last=%d "
                  "action=continue", step, text, last[2] if last is not None else 0,
                  exc_info=exc)  # fmt: skip

    def _silence(self, symbol: str, market: SymbolMarket, silent_s: float) -> None:
        """No update for `stale_after_s` of *wall* time is stale whatever the trading clock:
        the venue's clock stands still while its market data does (a stalled venue)."""
        if silent_s > self.settings.stale_after_s and market.stale_reason is None:
            self.on_stale(symbol, f"no market data for {silent_s:.1f} s of wall time")

    def _risk_gauges(self, now: int) -> None:
        for symbol in self.symbols:
            self.metrics.position.labels(symbol=symbol).set(self.overlay.position(symbol).position)
        pnl = self.overlay.daily_pnl
        if math.isfinite(pnl):
            self.metrics.pnl.set(pnl)
        day = self.overlay.trading_day
        if day is not None:
            tz = self.overlay.limits.trading_window.tz
            self.metrics.trading_day.set(day_start_ns(day, tz) / 1e9)
        gaps: dict[tuple[str, str], float] = dict.fromkeys(self._gap_keys, 0.0)
        for p in self.parents.parents.values():
            if p.state is ParentState.WORKING:
                key = (p.spec.symbol, p.spec.algo)
                gaps[key] = gaps.get(key, 0.0) + p.filled - p.schedule_filled(now)
        for (symbol, algo), gap in gaps.items():  # 0 where no parent works any more
            self.metrics.schedule_gap.labels(symbol=symbol, algo=algo).set(gap)
        self._gap_keys = set(gaps)

    def _api_preflight(self) -> Tokens:
        """The API's tokens, and whether its address can be listened on: checked first, so a
        mistake there stops the start before anything is logged on, recovered or cancelled."""
        from rlexec.service.auth import load_tokens

        tokens = load_tokens(os.environ)
        host, port = self.settings.api_host, self.settings.api_port
        problem: OSError | None = None
        try:
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            addresses, problem = [], exc
        for family, kind, proto, _, address in addresses:  # one that binds is enough
            try:
                with socket.socket(family, kind, proto) as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    probe.bind(address)
                return tokens
            except OSError as exc:
                problem = exc
        raise self._cannot_listen(problem)

    def _cannot_listen(self, exc: OSError | None) -> ServiceError:
        s = self.settings
        reason = (exc.strerror if exc is not None else None) or exc
        return ServiceError(f"api {s.api_host}:{s.api_port}: cannot listen there: {reason}")

    async def start_api(self, tokens: Tokens | None = None) -> None:
        from rlexec.service.api import build_app
        from rlexec.service.auth import load_tokens

        if tokens is None:
            tokens = load_tokens(os.environ)
        if not tokens:
            log.warning("event=api_no_tokens detail=%r", "RLEXEC_API_TOKENS and "
                        "RLEXEC_API_TOKEN_FILE are empty: every /v1 request gets 401")  # fmt: skip
        runner = web.AppRunner(build_app(self.control, self.registry, tokens), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.api_host, self.settings.api_port)
        try:
            await site.start()
        except OSError as exc:  # taken between the preflight and now
            await runner.cleanup()
            raise self._cannot_listen(exc) from None
        self._runner = runner
        addresses = runner.addresses
        self.api_port = addresses[0][1] if addresses else self.settings.api_port

    def store_health(self) -> tuple[bool, str]:
        return self.store.healthy()

    # -- the kill switch --------------------------------------------------------------------

    def _on_kill_transition(self, record: Transition) -> None:
        self.metrics.kill_transitions.labels(to=record.to_state.value).inc()
        log.warning("event=kill_switch from=%s to=%s who=%r why=%r",
                    record.from_state, record.to_state, record.who, record.why)  # fmt: skip
        if record.to_state is KillState.HALTED:
            self.parents.pause_all(f"HALTED by {record.who}: {record.why}")
            for child in self.oms.working():
                self.gate.cancel(child)

    def halt(self, who: str, why: str) -> None:
        self.overlay.halt(who, why)

    # -- market data (MarketDataListener): the hot path starts here ------------------------

    def on_book(self, symbol: str, book: L2Book) -> None:
        worked = symbol in self.parents.live_on  # a parent works it: a decision may be due
        started = time.perf_counter() if worked else 0.0
        venue_ns = self.md.venue_time_ns
        now = self.clock.now_ns() if venue_ns is None else self.clock.observe(venue_ns)
        market = self.markets.get(symbol)
        if market is None:
            return
        if market.stale_reason is not None and symbol not in self.md.stale:
            log.info("event=market_data_fresh symbol=%s", symbol)
            market.stale_reason = None
        market.on_book(now)
        bids, asks = book.bid_prices, book.ask_prices
        if bids and asks:  # the mid, as `book.mid` has it
            self.overlay.on_market(symbol, (bids[-1] + asks[0]) / 2, now)
        if worked:
            gate = self.gate
            gate.first_sent_at = 0.0
            self.parents.on_market(symbol, now)
            if gate.first_sent_at:
                self.metrics.tick_to_order.observe(gate.first_sent_at - started)
        # Off the tick-to-order chain, after the decision this tick triggered: the count, and
        # the monitors (their tightenings apply from the next decision on, seconds of market
        # apart, and never delay this order).
        market.updates.inc()
        self.monitors.on_book(symbol, book, now)

    def on_trade(self, symbol: str, trade: Trade) -> None:
        market = self.markets.get(symbol)
        if market is not None:
            now = self.clock.now_ns()
            market.on_trade(now, trade.size, int(trade.aggressor), trade.price)
            self.monitors.on_trade(symbol, trade, now)

    def on_stale(self, symbol: str, reason: str) -> None:
        market = self.markets.get(symbol)
        if market is not None:
            market.stale_reason = reason
        # at a graceful stop the session's own logout takes the data down: expected, not a warning
        (log.info if self._stopping else log.warning)(
            "event=market_data_stale symbol=%s reason=%r action=pause_new_orders", symbol, reason
        )

    # -- order entry (OrderEvents) -----------------------------------------------------------

    def on_execution(self, event: ExecutionEvent) -> None:
        if event.kind is ExecKind.ORDER_STATUS:
            self._status_asked.pop(event.cl_ord_id, None)
        recovery = self.recovery
        if recovery is not None and recovery.on_status(event):
            return
        self.oms.on_execution(event)

    def on_cancel_reject(self, event: CancelRejectEvent) -> None:
        self.oms.on_cancel_reject(event)

    def on_session(self, logged_on: bool, reason: str) -> None:
        log.info("event=order_session logged_on=%s reason=%r", logged_on, reason)
        if logged_on and self._reconcile_on_logon:
            self._status_asked.clear()  # questions of the last connection: asked again
            children = [c for c in self.oms.all() if not c.is_terminal]
            for child in children:
                self.ask_status(child)
            log.info("event=reconcile_after_logon status_requests=%d", len(children))
            self._cancel_unwanted_after_logon()

    def _cancel_unwanted_after_logon(self) -> None:
        """The cancels a kill, a pause, a parent's end or the shutdown could not send while
        the order session was down (`cancel_not_sent`): sent now, for every live child that
        may not stay live (`_wanted`) and has no request in flight.

        At once, right behind its status question, not after the answer: while halted every
        moment a child rests is exposure, a venue that does not answer status questions would
        otherwise keep it working for good, and a child that filled or ended meanwhile only
        earns a harmless cancel reject (the status answer, asked first, books what it did).
        A child with a cancel or replace still in flight is left to that request's answer
        (`_cancel_if_unwanted` cancels it once a replace ends)."""
        unwanted = [c for c in self.oms.working() if not self._wanted(c)]
        if not unwanted:
            return
        sent = in_flight = 0
        for child in unwanted:
            if child.pending_cl_ord_id is not None:
                in_flight += 1
            elif self.gate.cancel(child) is not None:
                sent += 1
        log.warning("event=cancel_after_logon kill_switch=%s unwanted=%d cancels_sent=%d "
                    "in_flight=%d", self.overlay.state.value, len(unwanted), sent,
                    in_flight)  # fmt: skip

    def ask_status(self, child: ChildOrder) -> None:
        """An OrderStatusRequest for `child`, unless one is out already; the answer goes to
        the OMS (a fill we missed is booked, an order the venue does not know is ended)."""
        cl = child.current_cl_ord_id
        now = time.monotonic()
        if now - self._status_asked.get(cl, -STATUS_ASK_AGAIN_S) < STATUS_ASK_AGAIN_S:
            return
        try:
            self.client.request_status_of(cl, child.symbol, child.side)
        except (GatewayError, OSError) as exc:
            log.warning("event=status_not_sent cl_ord_id=%s error=%r", cl, str(exc))
            return
        self._status_asked[cl] = now

    # -- the OMS's listener ------------------------------------------------------------------

    def on_accepted(self, child: ChildOrder) -> None:
        self.overlay.on_order_accepted(self.gate.risk_id(child), self.clock.now_ns())
        self.persist_child(child)

    def on_fill(self, child: ChildOrder, qty: int, price: int, exec_id: str, ts_ns: int) -> None:
        now = self.clock.now_ns()
        self.overlay.on_fill(child.symbol, child.side, qty, price,
                             order_id=self.gate.risk_id(child), now_ns=now)  # fmt: skip
        self.monitors.on_fill(child.symbol, child.side, qty, price, now)
        self.metrics.fills.inc()
        self.store.add_fill(exec_id, {"cl_ord_id": child.cl_ord_id, "parent": child.parent_id,
                                      "symbol": child.symbol, "side": child.side.name, "qty": qty,
                                      "price": price, "ts_ns": ts_ns})  # fmt: skip
        self.persist_child(child)
        parent = self.parents.parents.get(child.parent_id or "")
        algo = parent.spec.algo if parent is not None else "none"
        self.metrics.filled_shares.labels(symbol=child.symbol, algo=algo).inc(qty)
        self.parents.on_fill(child, qty, price)
        if parent is not None and parent.is_bps is not None:
            self.metrics.is_bps.labels(symbol=child.symbol, algo=algo).set(parent.is_bps)

    def on_replaced(self, child: ChildOrder) -> None:
        if child.current_cl_ord_id not in self.client.working and not child.is_terminal:
            self._track_replaced(child)
        request = self.gate.replaced(child)
        self.persist_child(child)
        if request is not None:
            self.overlay.on_replaced(request, self.clock.now_ns())
        self._cancel_if_unwanted(child)

    def _track_replaced(self, child: ChildOrder) -> None:
        """A replace learnt from an order-status answer (its Replaced report was lost with a
        crash): the order client still holds the order under its old ClOrdID, and could not
        cancel it under the new one."""
        client = self.client
        for key in [k for k, o in client.working.items()
                    if child.venue_order_id and o.order_id == child.venue_order_id]:  # fmt: skip
            del client.working[key]
        client.adopt(child.current_cl_ord_id, child.symbol, child.side, child.quantity,
                     child.order_type, child.price, child.time_in_force, child.venue_order_id,
                     child.cum_qty)  # fmt: skip

    def on_replace_rejected(self, child: ChildOrder, reason: str) -> None:
        request = self.gate.pending_replaces.pop(child.cl_ord_id, None)
        self.persist_child(child)
        if request is not None:
            self.overlay.on_replace_rejected(request, self.clock.now_ns())
        self._cancel_if_unwanted(child)

    def _cancel_if_unwanted(self, child: ChildOrder) -> None:
        """A child whose replace was in flight when a kill, a pause or the shutdown swept the
        working orders could not be cancelled then (one request at a time): cancel it now."""
        if not child.state.is_terminal and not self._wanted(child):
            self.gate.cancel(child)

    def _wanted(self, child: ChildOrder) -> bool:
        """Whether `child` may stay live: not halted, and its parent is working."""
        parent = self.parents.parents.get(child.parent_id or "")
        working = parent is not None and parent.state is ParentState.WORKING
        return working and self.overlay.state is not KillState.HALTED

    def on_unknown_order(self, child: ChildOrder) -> None:
        self.ask_status(child)

    def on_cancel_rejected(self, child: ChildOrder, reason: str) -> None:
        unwanted = not child.state.is_terminal and not self._wanted(child)
        log.info("event=cancel_rejected cl_ord_id=%s reason=%r action=%s", child.cl_ord_id,
                 reason, "retry" if unwanted else "none")  # fmt: skip
        self.persist_child(child)
        if unwanted:  # halted, or its parent is done: it must not stay live; ask again shortly
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to schedule on
                asyncio.get_running_loop().call_later(
                    CANCEL_RETRY_S, self._cancel_if_unwanted, child
                )

    def on_done(self, child: ChildOrder) -> None:
        request = self.gate.pending_replaces.get(child.cl_ord_id)
        risk_id = self.gate.done(child)
        self.persist_child(child)
        now = self.clock.now_ns()
        if child.state is ChildState.REJECTED:
            self.metrics.rejects.inc()
            self.overlay.on_rejected(risk_id, now)
        elif child.state in (ChildState.CANCELED, ChildState.EXPIRED):
            self.overlay.on_cancelled(risk_id, now)
        elif request is not None and self.overlay.holds(request):
            # Filled on its old terms while a replace that grows it was in flight: the replace
            # can no longer apply (the venue's refusal, if one comes, finds nothing pending),
            # so the growth the overlay reserved for it is released now.
            self.overlay.on_replace_rejected(request, now)

    def on_alert(self, child: ChildOrder | None, code: str, detail: str) -> None:
        self.metrics.alerts.labels(code=code).inc()
        log.error("event=oms_alert code=%s cl_ord_id=%s detail=%r", code,
                  child.cl_ord_id if child is not None else "-", detail)  # fmt: skip
        if code == AlertCode.MISSED_FILL and self.recovery is not None:
            # After a crash the venue's status answers are how lost fills come back: expected
            # here (they are applied and recorded), a reason to halt at any other time.
            return
        if code in HALT_ALERTS:
            try:
                self.overlay.halt("oms", f"{code}: {detail}")
            except RlexecError as exc:  # the halt took effect; its save is retried
                log.error("event=halt_not_saved error=%r", str(exc))


class LiveVwapAlgo(VwapAlgo):
    """VWAP on an epoch clock: the profile is by New York time of day."""

    def time_of_day_ns(self, ex: ExecutionPort) -> int:
        start = datetime.fromtimestamp(ex.state.start_ns / 1e9, NEW_YORK)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        return ex.state.start_ns - round(midnight.timestamp()) * 1_000_000_000


ID_BLOCK = 50
"""ClOrdIDs per reserved block (per parent): recovery asks the venue about the unused ones
of every block still open, so small blocks keep a restart quick."""
ID_LOW_WATER = 15


def make_state_store(
    state: str, on_overflow: Callable[[str], None], archive_ttl_s: int | None = None
) -> StateStore:
    if state == "memory":
        return MemoryStateStore(on_overflow=on_overflow, archive_ttl_s=archive_ttl_s)
    return RedisStateStore(state, on_overflow=on_overflow, archive_ttl_s=archive_ttl_s)


def _task_name(task: asyncio.Task[None]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or task.get_name()


def _training_record(policy: OnnxPolicy) -> dict[str, Any]:
    """The model's training record from its metadata ({} when absent or unreadable)."""
    try:
        record = json.loads(policy.metadata.get(META_TRAINING, "{}"))
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def load_stats(data: Path, window: str = "09:35-13:00") -> MarketStats:
    """Market statistics for VWAP / POV / Almgren–Chriss from a LOBSTER day (training window)."""
    from rlexec.models.market_stats import Window, estimate
    from rlexec.simulator.data import ReplayData

    return estimate(ReplayData.load(data), Window.parse(window), bucket_s=1800)


Factory = Callable[[ServiceSettings], Service]
