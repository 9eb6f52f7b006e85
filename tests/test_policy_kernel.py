"""The compiled policy kernel (rlexec/models/policy_kernel.c) against ONNX Runtime, its reference:
the same decisions on real observations and on made-up ones, a fallback for graphs it cannot
run, and a refusal of a kernel that does not agree."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

from rlexec.market.book_replay import BookReplay
from rlexec.market.features import ExecutionState
from rlexec.market.lobster import LobsterPair
from rlexec.market.orders import Side
from rlexec.models import policy_kernel
from rlexec.models.contract import imputed
from rlexec.models.policy import RUNTIME_ENV, SCORE_TOLERANCE, OnnxPolicy, PolicyError
from rlexec.models.policy_kernel import DenseNet
from rlexec.models.policy_layers import DenseLayer, dense_layers
from tests.test_models_policy import A, N, linear_model

SOURCE = Path(policy_kernel.__file__).with_name("policy_kernel.c")
Scores = list[float] | None


def test_the_kernel_is_built_from_this_source() -> None:
    assert hashlib.sha256(SOURCE.read_bytes()).hexdigest() == policy_kernel.SOURCE_SHA256, (
        "rlexec/models/policy_kernel.c changed since it was built: run "
        "`python setup.py build_ext --inplace` (or `pip install -e .`)"
    )


@pytest.fixture(scope="module")
def compiled() -> OnnxPolicy:
    return OnnxPolicy(runtime="compiled")


@pytest.fixture(scope="module")
def reference() -> OnnxPolicy:
    return OnnxPolicy(runtime="onnxruntime")


def relative_gap(expected: Sequence[float], got: Sequence[float]) -> float:
    return max(abs(a - b) / (1.0 + abs(a)) for a, b in zip(expected, got, strict=True))


def assert_close(expected: Scores, got: Scores) -> None:
    assert (expected is None) == (got is None), (expected, got)
    if expected is not None and got is not None:
        assert relative_gap(expected, got) <= SCORE_TOLERANCE, (expected, got)


def clear_best(scores: Sequence[float]) -> bool:
    """Whether the best score beats the runner-up by more than the tolerance."""
    first, second = sorted(scores, reverse=True)[:2]
    return first - second > SCORE_TOLERANCE * (1.0 + abs(first))


# -- the shipped model -------------------------------------------------------------------------


def test_the_shipped_model_runs_compiled_as_three_dense_layers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(RUNTIME_ENV, raising=False)
    policy = OnnxPolicy()
    assert policy.runtime == "compiled", policy.runtime_reason
    assert "agrees with onnxruntime" in policy.runtime_reason
    layers = dense_layers(policy.path.read_bytes())
    assert [layer.weights.shape for layer in layers] == [(11, 64), (64, 64), (64, 15)]
    assert [layer.bias.shape for layer in layers] == [(64,), (64,), (15,)]
    tanh, none = policy_kernel.TANH, policy_kernel.NONE
    assert [layer.activation for layer in layers] == [tanh, tanh, none]


def real_observations(aapl: Path, stride: int = 10) -> list[list[float]]:
    """Every `stride`-th row of the AAPL day, as the feature builder sees it, for a run of
    5-minute parents (alternating sides) that fill 100 shares at the far touch now and then."""
    replay = BookReplay(LobsterPair.from_message(aapl))
    book = replay.book
    out: list[list[float]] = []
    ex: ExecutionState | None = None
    for i, row in enumerate(replay):
        if i % stride:
            continue
        ts = row[0]
        bid, ask = book.best_bid, book.best_ask
        if ex is None or ts >= ex.end_ns:
            side = Side.BUY if len(out) % 2 else Side.SELL
            ex = ExecutionState(side, 5_000, ts, ts + 300 * 10**9, book.mid or 5_850_000.0)
        if bid is not None and ask is not None and len(out) % 9 == 0 and ex.filled < ex.quantity:
            ex.record_fill(ask if ex.side is Side.BUY else bid, 100)
        out.append(replay.features.vector(ex, ts))
    return out


def test_the_kernel_decides_as_onnxruntime_on_a_day_of_real_observations(
    aapl_message: Path, compiled: OnnxPolicy, reference: OnnxPolicy
) -> None:
    observations = real_observations(aapl_message)
    assert len(observations) > 10_000
    chosen = set()
    for obs in observations:
        expected, got = reference.scores(obs), compiled.scores(obs)
        assert_close(expected, got)
        a, b = reference.decide(obs), compiled.decide(obs)
        assert a == b, (obs, expected, got)
        assert compiled.last_imputed == reference.last_imputed == imputed(obs)
        if a is not None:
            chosen.add(a.index)
    assert len(chosen) > 1  # the comparison saw more than one action


# -- made-up observations ----------------------------------------------------------------------

SPECIAL = [math.nan, math.inf, -math.inf, 1e300, -1e300, 1e39, -1e39, 0.0, -0.0, 5e-324]
values = st.one_of(
    st.tuples(st.just("z"), st.floats(-30.0, 30.0)),  # standard deviations from the mean
    st.tuples(st.just("z"), st.floats(-1e6, 1e6)),  # far beyond the clip
    st.tuples(st.just("raw"), st.sampled_from(SPECIAL)),
    st.tuples(st.just("raw"), st.floats(allow_nan=True, allow_infinity=True)),
)
shapes = st.one_of(
    st.lists(values, min_size=N, max_size=N), st.lists(values, min_size=0, max_size=2 * N)
)


def made_up(policy: OnnxPolicy, drawn: list[tuple[str, float]]) -> list[float]:
    mean, std = policy.normaliser.mean.tolist(), policy.normaliser.std.tolist()
    return [mean[i % N] + std[i % N] * v if kind == "z" else v for i, (kind, v) in enumerate(drawn)]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # ±1e39, ±1e300
@settings(max_examples=1000, deadline=None)
@given(shapes)
@example([("raw", math.nan)] * N)
@example([("raw", math.inf)] * (N // 2) + [("raw", -1e300)] * (N - N // 2))
@example([("z", 0.0)] * (N + 1))
def test_made_up_observations_score_and_decide_as_onnxruntime(
    compiled: OnnxPolicy, reference: OnnxPolicy, drawn: list[tuple[str, float]]
) -> None:
    obs = made_up(reference, drawn)
    expected, got = reference.scores(obs), compiled.scores(obs)
    assert_close(expected, got)
    assert (expected is None) == (len(obs) != N)
    assert compiled.last_imputed == reference.last_imputed
    if len(obs) == N:
        assert compiled.last_imputed == imputed(obs)
    a, b = reference.decide(obs), compiled.decide(obs)
    assert (a is None) == (b is None) == (expected is None)
    if expected is not None and clear_best(expected):
        assert a == b, (obs, expected, got)


# -- what the kernel runs and what it leaves to onnxruntime ------------------------------------


def graph_model(
    path: Path, nodes: list[onnx.NodeProto], constants: dict[str, npt.NDArray[np.float32]]
) -> Path:
    """`linear_model`'s contract metadata around another graph from "obs" to "scores"."""
    linear_model(path, np.zeros((N, A), np.float32), np.zeros(A, np.float32))
    model = onnx.load(str(path))
    del model.graph.node[:]
    del model.graph.initializer[:]
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def random_points(n: int = 200) -> list[list[float]]:
    points: list[list[float]] = np.random.default_rng(7).normal(0.0, 3.0, size=(n, N)).tolist()
    return points


@pytest.mark.parametrize("op", ["Sigmoid", "Softmax", "LeakyRelu"])
def test_a_graph_the_kernel_cannot_run_falls_back_to_onnxruntime(tmp_path: Path, op: str) -> None:
    rng = np.random.default_rng(1)
    path = graph_model(tmp_path / "m.onnx",
                       [helper.make_node("Gemm", ["obs", "W", "b"], ["h"]),
                        helper.make_node(op, ["h"], ["scores"])],
                       {"W": rng.normal(size=(N, A)).astype(np.float32),
                        "b": rng.normal(size=A).astype(np.float32)})  # fmt: skip
    policy = OnnxPolicy(path)
    assert policy.runtime == "onnxruntime"
    assert op in policy.runtime_reason
    assert policy.decide([0.5] * N) is not None  # and it runs
    with pytest.raises(ValueError, match=op):
        dense_layers(path.read_bytes())
    with pytest.raises(PolicyError, match=f"refused — no compiled kernel.*{op}"):
        OnnxPolicy(path, runtime="compiled")


def test_a_matmul_add_relu_graph_runs_compiled_and_agrees(tmp_path: Path) -> None:
    """Two layers: MatMul + Add + Relu, then a MatMul without a bias."""
    rng = np.random.default_rng(2)
    w1, b1 = rng.normal(size=(N, 16)).astype(np.float32), rng.normal(size=16).astype(np.float32)
    w2 = rng.normal(size=(16, A)).astype(np.float32)
    path = graph_model(tmp_path / "m.onnx",
                       [helper.make_node("MatMul", ["obs", "W1"], ["m1"]),
                        helper.make_node("Add", ["m1", "b1"], ["a1"]),
                        helper.make_node("Relu", ["a1"], ["r1"]),
                        helper.make_node("MatMul", ["r1", "W2"], ["scores"])],
                       {"W1": w1, "b1": b1, "W2": w2})  # fmt: skip
    layers = dense_layers(path.read_bytes())
    assert [(layer.weights.shape, layer.activation) for layer in layers] == [
        ((N, 16), policy_kernel.RELU), ((16, A), policy_kernel.NONE)
    ]  # fmt: skip
    assert np.array_equal(layers[0].bias, b1) and not layers[1].bias.any()
    compiled, reference = OnnxPolicy(path), OnnxPolicy(path, runtime="onnxruntime")
    assert compiled.runtime == "compiled" and reference.runtime == "onnxruntime"
    for obs in random_points():
        expected = reference.scores(obs)
        assert_close(expected, compiled.scores(obs))
        assert expected is not None
        if clear_best(expected):
            assert compiled.decide(obs) == reference.decide(obs)


def test_the_runtime_is_chosen_by_argument_then_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(RUNTIME_ENV, "onnxruntime")
    policy = OnnxPolicy()
    assert policy.runtime == "onnxruntime" and RUNTIME_ENV in policy.runtime_reason
    assert OnnxPolicy(runtime="compiled").runtime == "compiled"  # the argument wins
    monkeypatch.delenv(RUNTIME_ENV)
    assert OnnxPolicy(runtime="onnxruntime").runtime == "onnxruntime"
    with pytest.raises(PolicyError, match="'tensorrt'"):
        OnnxPolicy(runtime="tensorrt")


def test_a_misspelt_runtime_in_the_environment_is_refused_not_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(RUNTIME_ENV, "ort")
    with pytest.raises(PolicyError, match="RLEXEC_POLICY_RUNTIME='ort': expected compiled or"):
        OnnxPolicy()
    monkeypatch.setenv(RUNTIME_ENV, "compiled")
    assert OnnxPolicy().runtime == "compiled"


def test_compiled_in_the_environment_insists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = graph_model(tmp_path / "m.onnx",
                       [helper.make_node("Gemm", ["obs", "W", "b"], ["h"]),
                        helper.make_node("Sigmoid", ["h"], ["scores"])],
                       {"W": np.ones((N, A), np.float32), "b": np.zeros(A, np.float32)})  # fmt: skip
    monkeypatch.setenv(RUNTIME_ENV, "compiled")
    with pytest.raises(PolicyError, match=r"no compiled kernel.*Sigmoid"):
        OnnxPolicy(path)


def test_a_gemm_with_a_transb_other_than_0_or_1_is_not_read(tmp_path: Path) -> None:
    """ONNX Runtime transposes for any non-zero transB; the kernel reads only 0 and 1."""
    path = graph_model(tmp_path / "m.onnx",
                       [helper.make_node("Gemm", ["obs", "W", "b"], ["scores"], transB=2)],
                       {"W": np.ones((A, N), np.float32), "b": np.zeros(A, np.float32)})  # fmt: skip
    with pytest.raises(ValueError, match="transB 2, not 0 or 1"):
        dense_layers(path.read_bytes())
    assert OnnxPolicy(path).runtime == "onnxruntime"


def test_a_graph_whose_weights_the_kernel_refuses_runs_on_onnxruntime(tmp_path: Path) -> None:
    weights = np.ones((N, A), np.float32)
    weights[0, 0] = np.inf
    path = graph_model(tmp_path / "m.onnx", [helper.make_node("Gemm", ["obs", "W", "b"], ["scores"])],
                       {"W": weights, "b": np.zeros(A, np.float32)})  # fmt: skip
    policy = OnnxPolicy(path)
    assert policy.runtime == "onnxruntime"
    assert "the kernel refused the graph's layers" in policy.runtime_reason
    assert "not finite" in policy.runtime_reason


def kernel_of(policy: OnnxPolicy, layers: list[DenseLayer]) -> DenseNet:
    normaliser = policy.normaliser
    return DenseNet(normaliser.mean.tobytes(), normaliser.inv_std.tobytes(), normaliser.clip,
                    [layer.as_kernel_args() for layer in layers])  # fmt: skip


@pytest.mark.parametrize("layer", [0, 2])
def test_a_tampered_kernel_is_refused(reference: OnnxPolicy, layer: int) -> None:
    layers = dense_layers(reference.path.read_bytes())
    assert reference._disagreement(kernel_of(reference, layers)) is None
    weights = layers[layer].weights.copy()
    weights[3, 5] += 0.5
    layers[layer] = DenseLayer(weights, layers[layer].bias, layers[layer].activation)
    problem = reference._disagreement(kernel_of(reference, layers))
    assert problem is not None and "differ from onnxruntime" in problem


# -- DenseNet on its own -----------------------------------------------------------------------


def f32(*values: float) -> bytes:
    return np.array(values, np.float32).tobytes()


MEAN, INV_STD = f32(1.0, -2.0), f32(0.5, 2.0)
GOOD = (f32(1, 0, 0, 0, 1, -1), f32(0, 0, 0.25), 2, 3, policy_kernel.NONE)


def test_dense_net_normalises_imputes_clips_and_runs_its_layers() -> None:
    """Scores = normalised features through W (2 inputs × 3 outputs) + b, worked by hand."""
    net = DenseNet(MEAN, INV_STD, 3.0, [GOOD])
    assert (net.features, net.outputs) == (2, 3)
    assert net.scores([3.0, -1.5]) == [1.0, 1.0, -0.75]  # normalised (1, 1)
    assert net.argmax([3.0, -1.5]) == 0  # the first of two best
    assert net.scores([math.nan, 100.0]) == [0.0, 3.0, -2.75] and net.imputed == 1
    assert net.scores([-math.inf, math.inf]) == [-3.0, 3.0, -2.75] and net.imputed == 2
    assert net.scores([1e300, -1e300]) == [3.0, -3.0, 3.25] and net.imputed == 0
    assert net.argmax([1e300, -1e300]) == 2
    relu = DenseNet(MEAN, INV_STD, 3.0, [(*GOOD[:4], policy_kernel.RELU)])
    assert relu.scores([3.0, -1.5]) == [1.0, 1.0, 0.0]
    tanh = DenseNet(MEAN, INV_STD, 3.0, [(*GOOD[:4], policy_kernel.TANH)])
    got = tanh.scores([3.0, -1.5])
    assert got is not None
    assert got == pytest.approx([math.tanh(1.0), math.tanh(1.0), math.tanh(-0.75)], rel=1e-6)
    for wrong in ([], [1.0], [1.0, 2.0, 3.0]):
        assert net.argmax(wrong) == -1 and net.scores(wrong) is None


def test_relu_passes_a_nan_on_as_onnx_does() -> None:
    """A hidden layer whose sum is inf − inf: ONNX's Relu keeps the NaN, so the scores are not
    finite and there is no decision (a Relu written `x > 0 ? x : 0` would make it 0)."""
    net = DenseNet(f32(0.0), f32(1.0), 10.0, [
        (f32(2.0, 2.0), f32(0.0, 0.0), 1, 2, policy_kernel.NONE),
        (f32(1.0, 1.0), f32(0.0), 2, 1, policy_kernel.RELU),
        (f32(1.0), f32(0.0), 1, 1, policy_kernel.NONE),
    ])  # fmt: skip
    assert net.scores([1.0]) == [4.0]
    overflowing = DenseNet(f32(0.0), f32(1.0), 10.0, [
        (f32(3e38, 3e38), f32(0.0, 0.0), 1, 2, policy_kernel.NONE),
        (f32(1.0, -1.0), f32(0.0), 2, 1, policy_kernel.RELU),  # inf − inf
    ])  # fmt: skip
    scores = overflowing.scores([10.0])
    assert scores is not None and math.isnan(scores[0])
    assert overflowing.argmax([10.0]) == -1


def test_a_dense_net_is_built_once_and_takes_only_bytes_and_tuples() -> None:
    net = DenseNet(MEAN, INV_STD, 3.0, [GOOD])
    with pytest.raises(TypeError, match="initialised once"):
        net.__init__(MEAN, INV_STD, 3.0, [GOOD])  # type: ignore[misc]
    assert net.scores([3.0, -1.5]) == [1.0, 1.0, -0.75]  # untouched
    with pytest.raises(TypeError, match="layer 0: a tuple"):
        DenseNet(MEAN, INV_STD, 3.0, [list(GOOD)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        DenseNet(np.zeros(2, np.float64), INV_STD, 3.0, [GOOD])  # type: ignore[arg-type]
    bare = DenseNet.__new__(DenseNet)
    with pytest.raises(RuntimeError, match="not initialised"):
        bare.argmax([1.0, 2.0])
    assert bare.outputs == 0


def test_an_observation_that_calls_the_net_while_it_is_read_gets_its_own_answer() -> None:
    """An item whose float() runs the same net on another observation (re-entry): each call
    answers for its own observation, since the values are all read before any arithmetic."""
    net = DenseNet(MEAN, INV_STD, 3.0, [GOOD])
    inner: list[object] = []

    class Sneaky:
        def __float__(self) -> float:
            inner.append(net.scores([1e300, -1e300]))
            return -1.5

    assert net.scores([3.0, Sneaky()]) == [1.0, 1.0, -0.75]  # type: ignore[list-item]
    assert inner == [[3.0, -3.0, 3.25]]

    observation: list[object] = []

    class Emptier:  # empties the very list being read
        def __float__(self) -> float:
            observation.clear()
            return -1.5

    observation += [Emptier(), 3.0]
    assert net.scores(observation) == [-1.25, 3.0, -2.75]  # type: ignore[arg-type]


def test_a_non_finite_score_gives_no_argmax() -> None:
    """Finite weights whose sum overflows float32: scores come back, argmax is -1."""
    big = DenseNet(f32(0.0), f32(1.0), 10.0, [(f32(3e38, 3e38), f32(3e38, 0.0), 1, 2, 0)])
    scores = big.scores([1.0])
    assert scores is not None and scores[0] == math.inf
    assert big.argmax([1.0]) == -1


@pytest.mark.parametrize(
    ("mean", "inv_std", "clip", "layers", "message"),
    [
        (MEAN, INV_STD, 3.0, [(f32(1, 0, 0), *GOOD[1:])], "weights: 12 bytes"),
        (MEAN, INV_STD, 3.0, [(GOOD[0], f32(0, 0), *GOOD[2:])], "bias: 8 bytes"),
        (MEAN, INV_STD, 3.0, [(GOOD[0], GOOD[1], 3, 2, 0)], "layer 0: 3 -> 2 after a width of 2"),
        (MEAN, INV_STD, 3.0, [GOOD, (f32(1, 1), f32(0), 2, 1, 0)], "layer 1: 2 -> 1 after a width of 3"),
        (MEAN, INV_STD, 3.0, [(*GOOD[:4], 3)], "unknown activation 3"),
        (MEAN, INV_STD, 3.0, [(f32(1, 0, math.nan, 0, 1, -1), *GOOD[1:])], "weights: value 2 is not finite"),
        (MEAN, INV_STD, 3.0, [(GOOD[0], f32(0, math.inf, 0), *GOOD[2:])], "bias: value 1 is not finite"),
        (MEAN, f32(0.5), 3.0, [GOOD], "inv_std: 4 bytes"),
        (f32(1.0, math.nan), INV_STD, 3.0, [GOOD], "mean: value 1 is not finite"),
        (MEAN, INV_STD, 0.0, [GOOD], "clip must be finite and positive"),
        (MEAN, INV_STD, -1.0, [GOOD], "clip must be finite and positive"),
        (MEAN, INV_STD, math.inf, [GOOD], "clip must be finite and positive"),
        (MEAN, INV_STD, 3.0, [], "1 to 64 layers"),
    ],
)  # fmt: skip
def test_dense_net_refuses_bad_layers(
    mean: bytes, inv_std: bytes, clip: float, layers: list[tuple[bytes, bytes, int, int, int]],
    message: str,
) -> None:  # fmt: skip
    with pytest.raises(ValueError, match=message):
        DenseNet(mean, inv_std, clip, layers)
