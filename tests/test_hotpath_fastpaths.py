"""The tick-to-order shortcuts answer exactly what the plain way answers.

The NewOrderSingle template encoder against the field-by-field encoding it replaced and
against simplefix; the policy's IO-bound run against `InferenceSession.run` on the
normaliser's output; the live views, features and parent index against the long way, on a
real in-process service (the hot-path benchmark's rig: real FIX sessions, the shipped model).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import simplefix
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench import hotpath
from rlexec.gateway.clock import parse_utc_timestamp_ns, utc_timestamp
from rlexec.gateway.codec import FieldValue, encode_pairs
from rlexec.gateway.codes import ORD_TYPE_CODES, SIDE_CODES, TIF_CODES
from rlexec.gateway.config import SessionConfig
from rlexec.gateway.errors import FieldError
from rlexec.gateway.md_client import MarketDataClient
from rlexec.gateway.message import FixMessage
from rlexec.gateway.order_client import NewOrderEncoder
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore
from rlexec.gateway.values import format_price
from rlexec.market.book import L2Book
from rlexec.market.features import ExecutionState, FeatureBuilder
from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.models.contract import ACTIONS, META_OBS_CLIP, META_OBS_MEAN, META_OBS_STD
from rlexec.models.policy import OnnxPolicy, PolicyError
from rlexec.models.port import ChildView
from rlexec.service.config import ParentSpec
from rlexec.service.parents import ParentState
from tests.test_models_policy import A, N, linear_model

# -- NewOrderSingle ----------------------------------------------------------------------------

ids = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_:", min_size=1,
              max_size=24)  # fmt: skip
symbols = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ.", min_size=1, max_size=8)
accounts = st.one_of(st.none(), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1,
                                        max_size=12))  # fmt: skip


@st.composite
def intents(draw: st.DrawFn) -> OrderIntent:
    order_type = draw(st.sampled_from(OrderType))
    price = draw(st.integers(1, 10**11)) if order_type is OrderType.LIMIT else None
    return OrderIntent(
        draw(symbols), draw(st.sampled_from(Side)), draw(st.integers(1, 10**9)), order_type,
        price, draw(st.sampled_from(TimeInForce)), draw(st.one_of(st.none(), ids)),
    )  # fmt: skip


def plain_body(cl: str, intent: OrderIntent, account: bytes, at: bytes) -> bytes:
    """The encoding the template replaced, field by field."""
    body = (
        b"11=" + cl.encode() + b"\x01" + account + b"55=" + intent.symbol.encode()
        + b"\x0154=" + SIDE_CODES[intent.side] + b"\x0160=" + at
        + b"\x0138=%d\x0140=" % intent.quantity + ORD_TYPE_CODES[intent.order_type] + b"\x01"
    )  # fmt: skip
    if intent.price is not None:
        body += b"44=" + format_price(intent.price) + b"\x01"
    return body + b"59=" + TIF_CODES[intent.time_in_force] + b"\x01"


def simplefix_body(cl: str, intent: OrderIntent, account: str | None, at: bytes) -> bytes:
    """The same order built by simplefix, the reference codec; its body between 35 and 10."""
    msg = simplefix.FixMessage()
    msg.append_pair(8, "FIX.4.4")
    msg.append_pair(35, "D")
    msg.append_pair(11, cl)
    if account is not None:
        msg.append_pair(1, account)
    msg.append_pair(55, intent.symbol)
    msg.append_pair(54, {Side.BUY: "1", Side.SELL: "2"}[intent.side])
    msg.append_pair(60, at)
    msg.append_pair(38, intent.quantity)
    msg.append_pair(40, {OrderType.LIMIT: "2", OrderType.MARKET: "1"}[intent.order_type])
    if intent.price is not None:  # decimal text of price / 10^4, trailing zeros dropped
        msg.append_pair(44, format(Decimal(intent.price).scaleb(-4).normalize(), "f"))
    msg.append_pair(59, {TimeInForce.DAY: "0", TimeInForce.IOC: "3"}[intent.time_in_force])
    raw = bytes(msg.encode())
    return raw.split(b"\x0135=D\x01", 1)[1][:-7]  # without the CheckSum field


@settings(max_examples=300)
@given(st.lists(st.tuples(ids, intents()), min_size=1, max_size=12), accounts)
@example([("P1.1", OrderIntent("AAPL", Side.BUY, 100, OrderType.LIMIT, 5_850_000))], None)
def test_new_order_bodies_match_the_plain_encoding_and_simplefix(
    orders: list[tuple[str, OrderIntent]], account: str | None
) -> None:
    """Several orders through one encoder: its caches are filled and then hit."""
    prefix = b"1=" + account.encode() + b"\x01" if account else b""
    encoder = NewOrderEncoder(prefix)
    at = utc_timestamp()
    for cl, intent in orders * 2:
        body = encoder.body(cl, intent, at)
        assert body == plain_body(cl, intent, prefix, at)
        assert body == simplefix_body(cl, intent, account, at)


def test_the_template_cache_is_bounded() -> None:
    class Small(NewOrderEncoder):
        __slots__ = ()
        MAX_HEADS = 3

    encoder = Small()
    for n in range(10):
        intent = OrderIntent(f"S{n}", Side.SELL, 5, OrderType.MARKET)
        assert encoder.body("c", intent, b"T") == plain_body("c", intent, b"", b"T")
        assert len(encoder._heads) <= Small.MAX_HEADS


# -- the policy ------------------------------------------------------------------------------

features = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e6, 1e6),
    st.sampled_from([0.0, -0.0, 1e39, -1e39, 1e308, math.nan, math.inf]),
)


def plain_scores(
    session: ort.InferenceSession, policy: OnnxPolicy, obs: list[float]
) -> list[float]:
    """One `InferenceSession.run` on the normaliser's output: the textbook inference."""
    x = policy.normaliser(obs)[None, :]
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    return [float(v) for v in out.ravel()]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # ±1e39 features
@settings(max_examples=300, deadline=None)
@given(st.lists(features, min_size=N, max_size=N))
def test_the_bound_run_scores_as_a_plain_run(obs: list[float]) -> None:
    policy, session = _shipped()
    scores = policy.scores(obs)
    expected = plain_scores(session, policy, obs)
    assert scores == expected  # bit for bit: the same float32 input, the same graph
    assert policy.last_imputed == sum(1 for v in obs if not math.isfinite(v))
    decision = policy.decide(obs)
    assert decision is not None and decision.index == int(np.argmax(expected))
    assert decision.action == ACTIONS[decision.index]


_SHIPPED: list[tuple[OnnxPolicy, ort.InferenceSession]] = []


def _shipped() -> tuple[OnnxPolicy, ort.InferenceSession]:
    """The shipped policy on ONNX Runtime (the compiled kernel is held to it in
    test_policy_kernel), and a plain session of the same file (loaded once per test run)."""
    if not _SHIPPED:
        policy = OnnxPolicy(runtime="onnxruntime")
        _SHIPPED.append((policy, ort.InferenceSession(str(policy.path))))
    return _SHIPPED[0]


def test_a_model_whose_scores_do_not_fit_its_action_table_is_refused(tmp_path: Path) -> None:
    path = linear_model(tmp_path / "m.onnx", np.ones((N, A - 1), np.float32),
                        np.zeros(A - 1, np.float32))  # fmt: skip
    with pytest.raises(PolicyError, match=r"shape \(1, 14\).*needs float32 \(1, 15\)"):
        OnnxPolicy(path)


def test_scores_stay_in_the_bound_buffers_across_calls(tmp_path: Path) -> None:
    """Each call returns a fresh list: a caller keeping one is not changed by the next run."""
    weights = np.eye(N, A, dtype=np.float32)
    path = linear_model(tmp_path / "m.onnx", weights, np.zeros(A, np.float32),
                        **{META_OBS_MEAN: json.dumps([0.0] * N),
                           META_OBS_STD: json.dumps([1.0] * N)})  # fmt: skip
    policy = OnnxPolicy(path)
    first = policy.scores([1.0] + [0.0] * (N - 1))
    second = policy.scores([0.0, 2.0] + [0.0] * (N - 2))
    assert first is not None and second is not None
    assert first[0] == 1.0 and first[1] == 0.0
    assert second[0] == 0.0 and second[1] == 2.0


# -- features --------------------------------------------------------------------------------


def reference_vector(fb: FeatureBuilder, ex: ExecutionState, now_ns: int) -> list[float]:
    """The feature vector as the builder wrote it before: properties and min/max."""
    now = max(now_ns, fb.now_ns)
    book = fb.book
    bid, ask = book.best_bid, book.best_ask
    if bid is None or ask is None:
        spread = imb1 = micro = math.nan
    else:
        bsz, asz = book.best_bid_size, book.best_ask_size
        spread = (ask - bid) / 100
        imb1 = (bsz - asz) / (bsz + asz)
        mid = (bid + ask) / 2
        micro = ((bid * asz + ask * bsz) / (bsz + asz) - mid) / mid * 1e4
    total = book.bid_total + book.ask_total
    depth = (book.bid_total - book.ask_total) / total if total else math.nan
    since = fb._last_trade_ns if fb._last_trade_ns is not None else fb._first_ns
    since_s = (now - since) / 1e9 if since is not None else 0.0
    horizon = ex.end_ns - ex.start_ns
    elapsed = (now - ex.start_ns) / horizon if horizon > 0 else 1.0
    remaining = 1.0 - ex.filled / ex.quantity if ex.quantity else 0.0
    return [
        spread, imb1, depth, micro, fb.volatility_bps, float(fb.signed_volume),
        float(fb.trade_count), since_s, min(1.0, max(0.0, elapsed)),
        min(1.0, max(0.0, remaining)), ex.shortfall_bps(),
    ]  # fmt: skip


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(1, 30), st.integers(0, 900)), max_size=30),
    st.lists(st.tuples(st.integers(1, 500), st.sampled_from([1, -1])), max_size=5),
    st.integers(0, 3_000), st.integers(1, 5_000), st.integers(-10**10, 10**11),
    st.integers(-1, 2_000),
)  # fmt: skip
def test_the_feature_vector_is_the_one_it_was(
    levels: list[tuple[bool, int, int]], trades: list[tuple[int, int]], filled: int,
    quantity: int, start_ns: int, horizon_s: int,
) -> None:  # fmt: skip
    book = L2Book()
    fb = FeatureBuilder(book)
    t = 10**9
    for buy, ticks, size in levels:
        price = 5_850_000 - ticks * 100 if buy else 5_850_000 + ticks * 100
        book.set_level(Side.BUY if buy else Side.SELL, price, size)
        t += 10**7
        fb.on_book(t)
    for size, aggressor in trades:
        t += 10**7
        fb.on_trade(t, size, aggressor)
    ex = ExecutionState(Side.BUY, quantity, start_ns, start_ns + horizon_s * 10**9, 5_850_000.0)
    if filled:
        ex.record_fill(5_851_000, filled)
    got, want = fb.vector(ex, t + 5 * 10**9), reference_vector(fb, ex, t + 5 * 10**9)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a == b or (math.isnan(a) and math.isnan(b))


# -- the live service ------------------------------------------------------------------------


async def _rig(seed: int) -> hotpath.Rig:
    return await hotpath.build(seed, parent=True, horizon_s=120.0)


def _record_orders(rig: hotpath.Rig) -> list[bytes]:
    """What the service writes to the venue from now on (`hotpath.answer` replies to it)."""
    connection = rig.service.order_session.connection
    assert connection is not None
    sent: list[bytes] = []
    connection.transport.hook = sent.append  # type: ignore[union-attr]
    return sent


async def test_views_and_open_quantity_are_the_oms_children() -> None:
    rig = await _rig(3)
    sent = _record_orders(rig)
    parent = next(iter(rig.service.parents.parents.values()))
    seen = 0
    for frame in rig.frames(15, 1_001_000_000):
        rig.md_conn.data_received(frame)
        hotpath.answer(rig.service, sent)
        ex = parent.ex
        assert ex is not None
        views = ex.working()
        children = rig.service.oms.working(parent.id)
        assert views == [
            ChildView(c.cl_ord_id, c.price, max(c.quantity - c.cum_qty, 0), c.cum_qty,
                      c.state.value.startswith("pending"))
            for c in children
        ]  # fmt: skip
        assert all(type(v) is ChildView for v in views)
        assert ex._working_leaves == sum(v.leaves for v in views) == ex.open_quantity()
        seen += len(views)
    assert seen > 0  # the parent had children working
    await asyncio.sleep(0)


async def test_only_live_parents_are_walked_and_a_finished_one_never_again() -> None:
    rig = await _rig(5)
    service = rig.service
    first = next(iter(service.parents.parents.values()))
    second = service.parents.submit(
        ParentSpec(symbol=hotpath.SYMBOL, side="buy", quantity=10**6, horizon_s=120.0)
    )
    while not service.ids_ready(second):  # noqa: ASYNC110 - its id block, reserved in the background
        await asyncio.sleep(0)
    sent = _record_orders(rig)
    for frame in rig.frames(3, 1_001_000_000):
        rig.md_conn.data_received(frame)
        hotpath.answer(service, sent)
    assert first.state is ParentState.WORKING and second.state is ParentState.WORKING
    assert first.decisions >= 3 and second.decisions >= 3
    service.parents.cancel(first.id)
    assert first.state is not ParentState.WORKING  # (mypy narrowed it above)
    before = (first.decisions, second.decisions)
    for frame in rig.frames(3, 1_001_000_000):
        rig.md_conn.data_received(frame)
        hotpath.answer(service, sent)
    assert first.state is ParentState.CANCELLED and first.decisions == before[0]
    assert second.decisions == before[1] + 3
    assert service.parents.live_on[hotpath.SYMBOL] == (second,)
    service.parents.cancel(second.id)
    assert hotpath.SYMBOL not in service.parents.live_on  # market data no longer asks
    for frame in rig.frames(2, 1_001_000_000):
        rig.md_conn.data_received(frame)
    assert second.decisions == before[1] + 3
    await asyncio.sleep(0)


# -- venue time ------------------------------------------------------------------------------

stamp_times = st.one_of(
    st.tuples(st.integers(13, 14), st.integers(0, 1), st.integers(58, 60), st.integers(0, 10**9 - 1),
              st.sampled_from([3, 6, 9])).map(
        lambda t: b"%02d:%02d:%02d.%s" % (t[0], t[1], t[2], (b"%09d" % t[3])[: t[4]])
    ),
    st.sampled_from([b"14:00:59", b"14:00:59.", b"14:00:59.12x", b"14:00:59.1234567890",
                     b"14:00:5.123", b"14:00:59.000000001", b"bad"]),
)  # fmt: skip


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from([b"20120621", b"20120622"]), stamp_times), max_size=12))
def test_the_venue_clock_reads_each_stamp_as_the_timestamp_parser(
    stamps: list[tuple[bytes, bytes]],
) -> None:
    """MDEntryDate + MDEntryTime through a real market-data client (the same second's stamps
    read by their fraction only) against `parse_utc_timestamp_ns` on the joined text."""
    md = MarketDataClient(
        FixSession(SessionConfig("C", "V"), MemoryStore()), clock_jump_confirmations=1
    )
    md.subscribe("AAPL")
    expected: int | None = None
    for seq, (day, at) in enumerate(stamps, 1):
        fields: list[tuple[int, FieldValue]] = [(8, "FIX.4.4"), (35, "X"), (34, seq), (268, 1)]
        fields += [(279, "0"), (269, "0"), (55, "AAPL"), (270, "1"), (271, "1"), (272, day)]
        message = FixMessage.decode(encode_pairs([*fields, (273, at)]))
        try:
            ns = parse_utc_timestamp_ns(day + b"-" + at)
        except ValueError:
            with pytest.raises(FieldError, match="not a UTCTimestamp"):
                md._venue_time(message.fields)
            continue
        md._venue_time(message.fields)
        expected = ns if expected is None else max(expected, ns)
        assert md.venue_time_ns == expected


# -- the order intent ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeneratedIntent:
    """OrderIntent as `dataclass` writes it (the generated __init__ and __post_init__)."""

    symbol: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    price: int | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    parent_id: str | None = None

    def __post_init__(self) -> None:
        if self.order_type is OrderType.LIMIT and self.price is None:
            raise ValueError(f"{self.symbol}: a limit order needs a price")
        if self.order_type is OrderType.MARKET and self.price is not None:
            raise ValueError(f"{self.symbol}: a market order carries no price")


@given(
    symbols, st.sampled_from(Side), st.integers(-5, 10**9), st.sampled_from(OrderType),
    st.one_of(st.none(), st.integers(-5, 10**11)), st.sampled_from(TimeInForce),
    st.one_of(st.none(), ids), st.booleans(),
)  # fmt: skip
def test_the_written_out_intent_constructor_is_the_generated_one(
    symbol: str, side: Side, qty: int, order_type: OrderType, price: int | None,
    tif: TimeInForce, parent: str | None, by_keyword: bool,
) -> None:  # fmt: skip
    args = (symbol, side, qty, order_type, price, tif, parent)
    names = ("symbol", "side", "quantity", "order_type", "price", "time_in_force", "parent_id")
    outcomes = []
    for cls in (OrderIntent, GeneratedIntent):
        try:
            made: OrderIntent | GeneratedIntent = (
                cls(symbol=symbol, side=side, quantity=qty, order_type=order_type, price=price,
                    time_in_force=tif, parent_id=parent)
                if by_keyword
                else cls(*args)
            )  # fmt: skip
        except ValueError as exc:
            outcomes.append(str(exc))
            continue
        outcomes.append(repr(made).replace(cls.__name__, "X"))
        assert tuple(getattr(made, n) for n in names) == args
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.quantity = 1  # type: ignore[misc]
    assert outcomes[0] == outcomes[1]
    if order_type is OrderType.MARKET:  # the defaults
        assert OrderIntent(symbol, side, qty, order_type) == OrderIntent(
            symbol, side, qty, order_type, None, TimeInForce.DAY, None
        )
        intent = OrderIntent(symbol, side, qty, order_type)
        assert dataclasses.replace(intent, quantity=qty + 1).quantity == qty + 1


def test_an_onnxruntime_without_the_wrapped_objects_runs_through_the_public_method() -> None:
    """The bound run reaches past `run_with_iobinding`'s wrapper only when the objects it
    wraps are there; otherwise the public method runs, with the same scores."""
    policy = OnnxPolicy(runtime="onnxruntime")
    obs = [1.0, 0.0, -0.125, 0.0, 0.01, 0.0, 0.0, 5.0, 0.5, 0.9, 1.5]
    native = policy.scores(obs)
    session = policy._session

    class PublicOnly:  # an InferenceSession as far as its public API goes
        run_with_iobinding = staticmethod(session.run_with_iobinding)

    policy._session = PublicOnly()
    policy._run = policy._bound_run()
    assert policy._run.func == session.run_with_iobinding  # type: ignore[attr-defined]
    assert policy.scores(obs) == native


def test_the_shipped_policy_normalises_inside_its_graph() -> None:
    """What the scores test above exercises: the fused graph, not the numpy fallback."""
    policy, _ = _shipped()
    assert policy._in_graph


@settings(max_examples=200, deadline=None)
@given(st.lists(features, min_size=N, max_size=N), st.sampled_from([10, 17]))
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_linear_policy_scores_as_a_plain_run_in_the_graph_or_in_numpy(
    obs: list[float], opset: int
) -> None:
    """Random weights, means, stds and a clip of 3 that bites. Opset 17: normalised in the
    graph; opset 10 has no Clip with input bounds, so the numpy normaliser runs instead."""
    policy, plain = _linear(opset)
    assert policy._in_graph is (opset >= 11)
    assert policy.scores(obs) == plain_scores(plain, policy, obs)


_LINEAR: dict[int, tuple[OnnxPolicy, ort.InferenceSession]] = {}


def _linear(opset: int) -> tuple[OnnxPolicy, ort.InferenceSession]:
    if opset not in _LINEAR:
        import tempfile

        import onnx

        folder = Path(tempfile.mkdtemp())
        rng = np.random.default_rng(5)
        path = linear_model(folder / "m.onnx", rng.normal(size=(N, A)).astype(np.float32),
                            rng.normal(size=A).astype(np.float32),
                            **{META_OBS_MEAN: json.dumps(rng.normal(size=N).tolist()),
                               META_OBS_STD: json.dumps(rng.uniform(0.1, 3, N).tolist()),
                               META_OBS_CLIP: "3.0"})  # fmt: skip
        model = onnx.load(str(path))
        model.opset_import[0].version = opset
        onnx.save(model, str(path))
        _LINEAR[opset] = (OnnxPolicy(path, runtime="onnxruntime"), ort.InferenceSession(str(path)))
    return _LINEAR[opset]
