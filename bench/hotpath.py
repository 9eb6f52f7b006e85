"""Benchmark: the live service's hot path, in process, with the real classes.

`tick-to-order`: the bytes of one FIX MarketDataIncrementalRefresh (X) handed to the market-data
connection (`FixConnection.data_received`) → framer → `FixSession` → `MarketDataClient` (book)
→ `Service.on_book` → features → `ParentManager` → `PolicyAlgo` (the shipped ONNX policy) →
`LiveExecution` → `RiskOverlay.check` → `OrderGate` → `OrderClient` → the NewOrderSingle bytes
reaching the order connection's transport `write`. A real `Service` (clock="venue", AAPL, one
"rl" parent, decision interval 1 s) runs on two in-memory transports; every measured X message
advances the venue time (MDEntryDate/MDEntryTime on its first entry) by 1.001 s, so each one
makes a decision due. Only messages whose decision sent a NewOrderSingle are timed into
`p50_us`/`p99_us` (the policy may also wait or only cancel: `decisions`, `orders_sent`);
a fresh parent's very first decision runs its code paths cold (several hundred µs, once per
parent) and is reported apart as `first_decision_p50_us`, not mixed into the steady state.
Between messages (untimed) the venue's answers come back to the service: every new order
acknowledged, every cancel and replace confirmed, so the parent's working children stay
at their live steady state. Risk limits are generous (`model_copy`) so nothing is denied
for rates or position, and the whole Service is rebuilt (untimed) every `--rebuild`
messages.
`ort_p50_us`: one `OnnxPolicy(runtime="onnxruntime").decide(obs)` on a real observation, in the
same run (the policy as the service would call it on ONNX Runtime: normalisation, one ORT run,
argmax); `ort_run_p50_us`: one plain `InferenceSession.run` of the shipped model on that
observation normalised (the textbook single inference; `ratio_p50_to_ort_run` is p50 over it),
for context. The service's own decisions run where `policy_runtime` says: "compiled" (the
policy kernel, `models/policy_kernel.c`, checked against ONNX Runtime at load; one decide in a
tight loop is `kernel_p50_us`) unless `RLEXEC_POLICY_RUNTIME=onnxruntime` puts ONNX Runtime
on the chain, which is how the two are compared.

`md`: X messages through connection → session → book → features with no decision due (no
parent): `md_msgs_per_s`; `md_parent_msgs_per_s`: the same with a working "rl" parent on the
symbol whose next decision is not due (messages 10 µs of venue time apart), so each message
also asks the parent manager. Messages are synthetic level updates around $585 (random walk of a
10-level book, one or two entries each) produced by the simulator's own `Subscription`.

`--fix-codec both`: the FIX receive loops' Python reference against the compiled ones
(`gateway/receive_loops.c`) in the same run. Every block of `--rebuild` messages runs twice, the
same frames through a fresh Service each time, on the Python loops first in every other block;
md throughput runs in four alternating turns each. Reported as `python_codec` and the ratios
of the medians (`python_p50_over_compiled`, `compiled_md_over_python`); `fix_codec` says which
loops the headline figures ran on.

gc is disabled during every timing loop. Prints one JSON object; medians over `--repeat` runs.
Targets (issue 9): p50 ≤ 60 µs, p99 ≤ 200 µs, p50 ≤ 8× ORT p50, md ≥ 100,000 msg/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import onnxruntime as ort  # noqa: E402

from rlexec.gateway import codec  # noqa: E402
from rlexec.gateway.application import Application  # noqa: E402
from rlexec.gateway.config import Role, SessionConfig  # noqa: E402
from rlexec.gateway.connection import FixConnection  # noqa: E402
from rlexec.gateway.execution import ExecKind, ExecutionEvent  # noqa: E402
from rlexec.gateway.message import FixMessage  # noqa: E402
from rlexec.gateway.session import FixSession  # noqa: E402
from rlexec.gateway.store import MemoryStore  # noqa: E402
from rlexec.gateway.values import parse_price  # noqa: E402
from rlexec.market.orders import Side  # noqa: E402
from rlexec.models.policy import OnnxPolicy, PolicyError  # noqa: E402
from rlexec.service.config import ParentSpec, ServiceSettings, default_limits  # noqa: E402
from rlexec.service.runtime import Service  # noqa: E402
from rlexec.simulator.market_data import Subscription, incremental  # noqa: E402

TARGETS = {"p50_us": 60.0, "p99_us": 200.0, "ratio_p50_to_ort": 8.0, "md_msgs_per_s": 100_000}
SYMBOL = "AAPL"
DAY = "20120621"
START_S = 14 * 3600  # 14:00 UTC = 10:00 New York: inside the trading window
MID = 5_850_000  # $585.00 in 1/10,000 $
TICK = 100


class Wire:
    """A minimal transport: delivers to the peer connection on the next loop turn, or — when
    `hook` is set — hands each written chunk to it (the measured end of the chain)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.peer: FixConnection | None = None
        self.hook: Callable[[bytes], None] | None = None

    def write(self, data: bytes) -> None:
        hook = self.hook
        if hook is not None:
            hook(data)
        elif self.peer is not None:
            self.loop.call_soon(self.peer.data_received, data)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def connect(client: FixSession, venue: FixSession) -> tuple[FixConnection, Wire, Wire]:
    """Log `client` on to `venue` over two Wires; returns (client connection, client→venue
    wire, venue→client wire)."""
    loop = asyncio.get_running_loop()
    await client.open()
    await venue.open()
    up, down = Wire(loop), Wire(loop)
    c_conn, v_conn = FixConnection(client), FixConnection(venue)
    up.peer, down.peer = v_conn, c_conn
    v_conn.connection_made(down)  # type: ignore[arg-type]
    c_conn.connection_made(up)  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        await client.wait_logged_on()
    for _ in range(10):  # let the subscription and its replies settle
        await asyncio.sleep(0)
    return c_conn, up, down


def venue_session(target: str) -> FixSession:
    config = SessionConfig("VENUE", target, Role.ACCEPTOR, heartbeat_interval=30)
    return FixSession(config, MemoryStore(), Application())


def stamp(t_ns: int) -> bytes:
    s, ns = divmod(t_ns, 1_000_000_000)
    hh, rem = divmod(s % 86_400, 3600)
    mm, ss = divmod(rem, 60)
    return b"%s-%02d:%02d:%02d.%06d" % (DAY.encode(), hh, mm, ss, ns // 1000)


class Market:
    """A 10-level synthetic book that random-walks; emits X bodies via `Subscription`."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.sub = Subscription(b"bench", 10, frozenset({b"0", b"1", b"2"}))
        self.bids = {MID - TICK * (i + 1): 100 * (i + 1) for i in range(10)}
        self.asks = {MID + TICK * (i + 1): 100 * (i + 1) for i in range(10)}

    def levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())

    def snapshot(self) -> bytes:
        bids, asks = self.levels()
        return self.sub.snapshot(SYMBOL, bids, asks)

    def step(self) -> list[bytes]:
        """Change one or two levels (a size change, or the touch moving by a tick)."""
        rng = self.rng
        side = self.bids if rng.random() < 0.5 else self.asks
        price = rng.choice(list(side))
        side[price] = max(100, side[price] + rng.choice((-100, 100, 200, -200)))
        if rng.random() < 0.1:  # the touch moves: drop the best and add a level behind
            best_bid, best_ask = max(self.bids), min(self.asks)
            if rng.random() < 0.5 and best_ask - best_bid > TICK:
                self.bids[best_bid + TICK] = 100
                del self.bids[min(self.bids)]
            elif best_ask - best_bid > TICK:
                self.asks[best_ask - TICK] = 100
                del self.asks[max(self.asks)]
        bids, asks = self.levels()
        sym = SYMBOL.encode()

        return self.sub.book_entries(Side.BUY, bids, sym) + self.sub.book_entries(
            Side.SELL, asks, sym
        )


class Rig:
    """A Service logged on to two in-memory venue sessions, with a market to feed it."""

    def __init__(
        self, service: Service, md_conn: FixConnection, venue_md: FixSession, seed: int
    ) -> None:
        self.service = service
        self.md_conn = md_conn
        self.venue_md = venue_md
        self.market = Market(seed)
        self.venue_ns = (
            int(time.mktime(time.strptime(DAY, "%Y%m%d")) - time.timezone + START_S) * 1_000_000_000
        )

    def frames(self, n: int, advance_ns: int) -> list[bytes]:
        """`n` X messages framed by the venue session (real headers, sequence numbers)."""
        out: list[bytes] = []
        wire = self.venue_md.connection.transport  # type: ignore[union-attr]
        wire.hook = out.append  # type: ignore[union-attr]
        try:
            for _ in range(n):
                entries = self.market.step()
                while not entries:
                    entries = self.market.step()
                self.venue_ns += advance_ns
                self.venue_md.send(b"X", incremental(b"bench", entries, stamp(self.venue_ns)))
        finally:
            wire.hook = None  # type: ignore[union-attr]
        return out


async def build(seed: int, parent: bool, horizon_s: float) -> Rig:
    settings = ServiceSettings(
        clock="venue", symbols=(SYMBOL,), decision_interval_s=1.0, stale_after_s=5.0
    )
    base = default_limits([SYMBOL])
    sym = base.symbols[SYMBOL].model_copy(
        update={"max_position": 10**9, "max_order_notional": 1e12}
    )
    limits = base.model_copy(
        update={
            "symbols": {SYMBOL: sym},
            "max_gross_position": 10**9,
            "max_working_orders": 1_000_000,
            "max_orders_per_s": 1_000_000,
            "max_messages_per_s": 1_000_000,
            "max_daily_loss": 1e12,
        }
    )
    service = Service(settings, limits=limits)
    await service.store.open()  # what Service.start does before anything is recorded
    await service.store.load()
    venue_orders, venue_md = venue_session(settings.sender), venue_session(settings.md_sender)
    await connect(service.order_session, venue_orders)
    md_conn, _, _ = await connect(service.md_session, venue_md)
    rig = Rig(service, md_conn, venue_md, seed)
    # The snapshot, then three stamped X to start the venue clock (three in a row agree), then
    # the parent.
    venue_md.send(b"W", rig.market.snapshot())
    for frame in rig.frames(3, 0):
        md_conn.data_received(frame)
    await asyncio.sleep(0)
    if parent:
        spec = ParentSpec(symbol=SYMBOL, side="buy", quantity=10**8, horizon_s=horizon_s)
        submitted = service.parents.submit(spec)
        while not service.ids_ready(submitted):  # noqa: ASYNC110 - its id block, reserved in the background
            await asyncio.sleep(0)
    return rig


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


async def tick_to_order(
    iterations: int, rebuild: int, seed: int, python_samples: list[int] | None = None
) -> dict[str, Any]:
    """`python_samples`: also run every block of `rebuild` messages (the same rig, the same
    frames) on the receive loops' Python reference, before or after alternately, into it."""
    samples: list[int] = []
    firsts: list[int] = []
    """A fresh parent's first decision (its first code paths run cold): reported apart."""
    counts = [0, 0]  # decisions, orders sent
    done = 0
    while done < iterations:
        n = min(rebuild, iterations - done)
        if python_samples is None:
            await block(n, seed + done, samples, firsts, counts)
        else:
            python_first = (done // rebuild) % 2 == 1
            for on_python in (python_first, not python_first):
                if on_python:
                    with codec.python_loops():
                        await block(n, seed + done, python_samples, [], [0, 0])
                else:
                    await block(n, seed + done, samples, firsts, counts)
        done += n
    samples.sort()
    firsts.sort()
    if python_samples is not None:
        python_samples.sort()
    return {"samples": samples, "firsts": firsts, "decisions": counts[0], "orders_sent": counts[1]}


async def block(
    n: int, seed: int, samples: list[int], firsts: list[int], counts: list[int]
) -> None:
    """`n` decision-making messages through a fresh Service: their tick-to-order times."""
    rig = await build(seed, parent=True, horizon_s=(n + 10) * 2.0)
    frames = rig.frames(n, 1_001_000_000)
    order_wire = rig.service.order_session.connection.transport  # type: ignore[union-attr]
    written: list[int] = []
    sent: list[bytes] = []

    def hook(data: bytes) -> None:
        if b"\x0135=D\x01" in data and not written:
            written.append(time.perf_counter_ns())
        sent.append(data)

    order_wire.hook = hook  # type: ignore[union-attr]
    feed = rig.md_conn.data_received
    parents = rig.service.parents
    clock_ns = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for i, frame in enumerate(frames):
            before_dec = sum(p.decisions for p in parents.parents.values())
            written.clear()
            t0 = clock_ns()
            feed(frame)
            if written:
                (firsts if i == 0 else samples).append(written[0] - t0)
                counts[1] += 1
            counts[0] += sum(p.decisions for p in parents.parents.values()) - before_dec
            answer(rig.service, sent)  # untimed: the venue acks, cancels, replaces
    finally:
        gc.enable()
    order_wire.hook = None  # type: ignore[union-attr]
    await asyncio.sleep(0)


def answer(service: Service, sent: list[bytes]) -> None:
    """The venue's side, untimed: every new order acknowledged, every cancel and replace
    confirmed, so the parent's working children stay at a live service's steady state."""
    data = b"".join(sent)
    sent.clear()
    now = time.time_ns()
    for chunk in data.split(b"8=FIX.4.4\x01")[1:]:
        f = FixMessage.decode(b"8=FIX.4.4\x01" + chunk).fields
        kind = {b"D": ExecKind.NEW, b"F": ExecKind.CANCELED, b"G": ExecKind.REPLACED}.get(
            f.get(35, b"")
        )
        if kind is None:
            continue
        cl = f[11].decode()
        orig = f[41].decode() if 41 in f else None
        qty = int(f[38])
        price = parse_price(f[44], 44, b"D") if 44 in f else None
        side = Side.BUY if f[54] == b"1" else Side.SELL
        leaves = 0 if kind is ExecKind.CANCELED else qty
        status = {ExecKind.NEW: "0", ExecKind.CANCELED: "4", ExecKind.REPLACED: "0"}[kind]
        service.on_execution(ExecutionEvent(
            kind, cl, "V" + (orig or cl), "E" + cl, status, status, SYMBOL, side, qty, 0,
            None, 0, leaves, None, price, orig, None, None, False, now,
        ))  # fmt: skip


def ort_p50(n: int, rig_obs: list[float], runtime: str = "onnxruntime") -> float:
    policy = OnnxPolicy(runtime=runtime)
    decide = policy.decide
    return call_p50(n, lambda: decide(rig_obs))


def ort_run_p50(n: int, rig_obs: list[float]) -> float:
    """One `InferenceSession.run` of the shipped model on the observation, normalised."""
    policy = OnnxPolicy()
    session = ort.InferenceSession(
        str(policy.path), policy_session_options(), providers=["CPUExecutionProvider"]
    )
    feed = {session.get_inputs()[0].name: policy.normalise(rig_obs)[None, :]}
    run = session.run
    return call_p50(n, lambda: run(None, feed))


def policy_session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()  # as OnnxPolicy sets them: one thread, sequential
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def call_p50(n: int, call: Callable[[], object]) -> float:
    for _ in range(min(n, 200)):
        call()
    out = [0] * n
    clock_ns = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for i in range(n):
            t0 = clock_ns()
            call()
            out[i] = clock_ns() - t0
    finally:
        gc.enable()
    out.sort()
    return percentile(out, 0.5)


async def observation(seed: int) -> list[float]:
    """A real observation: what the service's running parent would feed the policy."""
    rig = await build(seed, parent=True, horizon_s=600.0)
    for frame in rig.frames(5, 1_001_000_000):
        rig.md_conn.data_received(frame)
    parent = next(iter(rig.service.parents.parents.values()))
    assert parent.ex is not None, "the bench parent did not start"
    return list(parent.ex.observation())


async def md_throughput(messages: int, seed: int, parent: bool = False) -> float:
    rig = await build(seed, parent=parent, horizon_s=600.0)
    # 1 ms of venue time apart; 10 µs with a parent, whose next decision is then not due
    frames = rig.frames(messages, 10_000 if parent else 1_000_000)
    feed = rig.md_conn.data_received
    clock_ns = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        t0 = clock_ns()
        for frame in frames:
            feed(frame)
        elapsed = clock_ns() - t0
    finally:
        gc.enable()
    book = rig.service.md.books[SYMBOL]
    assert book.is_two_sided and SYMBOL not in rig.service.md.stale, "md bench book went stale"
    if parent:
        working = [p for p in rig.service.parents.parents.values() if p.ex is not None]
        assert working and all(p.decisions == 1 for p in working), "a decision fell due"
    return messages / (elapsed / 1e9)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    await tick_to_order(min(args.iterations, 200), args.rebuild, args.seed)  # warm-up
    await md_throughput(min(args.md_messages, 2000), args.seed)
    obs = await observation(args.seed)
    p50s: list[float] = []
    p99s: list[float] = []
    orts: list[float] = []
    kernels: list[float] = []
    runtime = OnnxPolicy().runtime  # what the service's policy runs on (RLEXEC_POLICY_RUNTIME)
    rates: list[float] = []
    parent_rates: list[float] = []
    ort_runs: list[float] = []
    firsts: list[int] = []
    py_p50s: list[float] = []
    py_p99s: list[float] = []
    py_rates: list[float] = []
    pair_rates: list[float] = []
    both = args.fix_codec == "both"
    decisions = orders = 0
    for r in range(args.repeat):
        python_samples: list[int] | None = [] if both else None
        res = await tick_to_order(
            args.iterations, args.rebuild, args.seed + 1000 * r, python_samples
        )
        decisions += res["decisions"]
        orders += res["orders_sent"]
        firsts += res["firsts"]
        if res["samples"]:
            p50s.append(percentile(res["samples"], 0.5))
            p99s.append(percentile(res["samples"], 0.99))
        orts.append(ort_p50(args.ort_iterations, obs))
        with contextlib.suppress(PolicyError):  # built without a compiler: no kernel to time
            kernels.append(ort_p50(args.ort_iterations, obs, runtime="compiled"))
        ort_runs.append(ort_run_p50(args.ort_iterations, obs))
        rates.append(await md_throughput(args.md_messages, args.seed + r))
        parent_rates.append(await md_throughput(args.md_messages, args.seed + r, parent=True))
        if both:
            if python_samples:
                py_p50s.append(percentile(python_samples, 0.5))
                py_p99s.append(percentile(python_samples, 0.99))
            compiled_rate, python_rate = await md_pair(args.md_messages, args.seed + r)
            pair_rates.append(compiled_rate)
            py_rates.append(python_rate)
    p50 = statistics.median(p50s) if p50s else None
    p99 = statistics.median(p99s) if p99s else None
    ort = statistics.median(orts)
    ratio = None if p50 is None else p50 / ort
    md_rate = statistics.median(rates)
    ort_run = statistics.median(ort_runs)
    return {
        "bench": "service.hotpath",
        "p50_us": None if p50 is None else round(p50, 3),
        "p99_us": None if p99 is None else round(p99, 3),
        "ort_p50_us": round(ort, 3),
        "ratio_p50_to_ort": None if ratio is None else round(ratio, 2),
        "ort_run_p50_us": round(ort_run, 3),
        "ratio_p50_to_ort_run": None if p50 is None else round(p50 / ort_run, 2),
        "policy_runtime": runtime,
        "kernel_p50_us": round(statistics.median(kernels), 3) if kernels else None,
        "first_decision_p50_us": round(percentile(sorted(firsts), 0.5), 3) if firsts else None,
        "md_msgs_per_s": round(md_rate),
        "md_parent_msgs_per_s": round(statistics.median(parent_rates)),
        "messages": args.iterations * args.repeat,
        "decisions": decisions,
        "orders_sent": orders,
        "targets": TARGETS,
        "meets_targets": {
            "p50_us": p50 is not None and p50 <= TARGETS["p50_us"],
            "p99_us": p99 is not None and p99 <= TARGETS["p99_us"],
            "ratio_p50_to_ort": ratio is not None and ratio <= TARGETS["ratio_p50_to_ort"],
            "md_msgs_per_s": md_rate >= TARGETS["md_msgs_per_s"],
        },
        "iterations": args.iterations,
        "repeat": args.repeat,
        "rebuild_every": args.rebuild,
        "md_messages": args.md_messages,
        "timer": "perf_counter_ns: before data_received → NewOrderSingle bytes at transport "
        "write; gc disabled in timing loops; medians over repeats",
        "python": platform.python_version(),
        "fix_codec": "compiled" if codec.COMPILED else "python",
        **(python_figures(p50, pair_rates, py_p50s, py_p99s, py_rates) if both else {}),
    }


def python_figures(
    p50: float | None,
    compiled_rates: list[float],
    p50s: list[float],
    p99s: list[float],
    rates: list[float],
) -> dict[str, Any]:
    """`--fix-codec both`: the Python receive loops' figures from the same repeats, and the
    compiled loops' gain over them (ratios of medians measured in this one run)."""
    py_p50 = statistics.median(p50s) if p50s else None
    compiled_rate, py_rate = statistics.median(compiled_rates), statistics.median(rates)
    return {
        "python_codec": {
            "p50_us": None if py_p50 is None else round(py_p50, 3),
            "p99_us": round(statistics.median(p99s), 3) if p99s else None,
            "md_msgs_per_s": round(py_rate),
            "md_compiled_msgs_per_s": round(compiled_rate),
        },
        "python_p50_over_compiled": None
        if p50 is None or py_p50 is None
        else round(py_p50 / p50, 3),
        "compiled_md_over_python": round(compiled_rate / py_rate, 3),
    }


async def md_pair(messages: int, seed: int, rounds: int = 4) -> tuple[float, float]:
    """Market-data throughput on the compiled loops and on their Python reference, in
    `rounds` alternating turns of `messages / rounds` each (a noisy machine's slow spells
    then fall on both): (compiled, python) messages/s."""
    per = max(1, messages // rounds)
    seconds = [0.0, 0.0]
    for turn in range(rounds):
        for on_python in (turn % 2 == 1, turn % 2 == 0):
            if on_python:
                with codec.python_loops():
                    seconds[1] += per / await md_throughput(per, seed + turn)
            else:
                seconds[0] += per / await md_throughput(per, seed + turn)
    return rounds * per / seconds[0], rounds * per / seconds[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=2000, help="X messages per repeat")
    parser.add_argument("--repeat", type=int, default=5, help="runs; medians are reported")
    parser.add_argument(
        "--rebuild", type=int, default=20,
        help="rebuild the Service every N messages (no fills come back, so resting children "
        "accumulate: 20 keeps a parent at 0-10 working children; the demo's have 1-3)",
    )  # fmt: skip
    parser.add_argument("--md-messages", type=int, default=50_000, help="md throughput messages")
    parser.add_argument("--ort-iterations", type=int, default=5000, help="ORT inferences")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--fix-codec", choices=("installed", "both"), default="installed",
        help="both: every repeat also runs tick-to-order and md throughput on the receive "
        "loops' Python reference (`python_codec`), interleaved, for the compiled loops' gain",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.fix_codec == "both" and not codec.COMPILED:
        parser.error("--fix-codec both needs the compiled loops (pip install -e . with a compiler)")
    for name in ("iterations", "repeat", "rebuild", "md_messages", "ort_iterations"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")

    result = asyncio.run(run(args))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
