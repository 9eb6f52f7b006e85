"""An ONNX policy graph read as a chain of dense layers, for the compiled kernel.

`policy_kernel.c` runs a chain of `Gemm` (or `MatMul` + `Add`) layers, each followed by at most
one `Tanh` or `Relu`, after the normaliser. This module reads exactly that shape out of an ONNX
graph (stable-baselines3's MLP policies export it: Cast, Flatten, Gemm, Tanh, …) and answers
why not for anything else, so a model the kernel cannot run is run by ONNX Runtime instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
from onnx import numpy_helper

NONE, TANH, RELU = 0, 1, 2
"""Activation codes, as `policy_kernel.c` numbers them."""
ACTIVATIONS = {"Tanh": TANH, "Relu": RELU}
Constants = dict[str, npt.NDArray[np.generic]]
PASS_THROUGH = ("Identity", "Flatten", "Cast")
"""Nodes that leave a float (batch, n) tensor as it is (`Flatten` on axis 1, `Cast` to float)."""


class UnsupportedGraphError(ValueError):
    """The graph is not a chain of dense layers the kernel runs: says which node and why."""


@dataclass(frozen=True)
class DenseLayer:
    weights: npt.NDArray[np.float32]
    """(n_in, n_out), C order: row i is what input i adds to each output."""
    bias: npt.NDArray[np.float32]
    activation: int = NONE

    def as_kernel_args(self) -> tuple[bytes, bytes, int, int, int]:
        n_in, n_out = self.weights.shape
        return (self.weights.tobytes(), self.bias.tobytes(), n_in, n_out, self.activation)


def dense_layers(model_bytes: bytes) -> list[DenseLayer]:
    """The layers of a model whose graph is one input → dense layers → one output."""
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    constants: Constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UnsupportedGraphError(
            f"{len(inputs)} inputs and {len(graph.output)} outputs, not one each"
        )
    current = inputs[0].name
    layers: list[DenseLayer] = []
    pending_matmul: npt.NDArray[np.float32] | None = None
    for node in graph.node:
        op, attrs = (
            node.op_type,
            {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute},
        )
        where = f"node {node.name or op!r} ({op})"
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedGraphError(f"{where}: domain {node.domain!r}")
        if not node.input or node.input[0] != current or len(node.output) != 1:
            raise UnsupportedGraphError(f"{where}: not a step of one chain from the input")
        if pending_matmul is not None and op != "Add":
            layers.append(DenseLayer(pending_matmul, np.zeros(pending_matmul.shape[1], np.float32)))
            pending_matmul = None
        if op in PASS_THROUGH:
            _check_pass_through(op, attrs, where)
        elif op == "Gemm":
            layers.append(_gemm(list(node.input), attrs, constants, where))
        elif op == "MatMul":
            pending_matmul = _constant(constants, list(node.input), 1, where, ndim=2)
        elif op == "Add":
            if pending_matmul is None:
                raise UnsupportedGraphError(f"{where}: an Add that is not a MatMul's bias")
            bias = _constant(constants, list(node.input), 1, where, ndim=1)
            if bias.shape[0] != pending_matmul.shape[1]:
                raise UnsupportedGraphError(
                    f"{where}: a bias of {bias.shape[0]} for {pending_matmul.shape[1]} outputs"
                )
            layers.append(DenseLayer(pending_matmul, bias))
            pending_matmul = None
        elif op in ACTIVATIONS:
            if not layers or layers[-1].activation != NONE:
                raise UnsupportedGraphError(f"{where}: an activation not right after a dense layer")
            last = layers[-1]
            layers[-1] = DenseLayer(last.weights, last.bias, ACTIVATIONS[op])
        else:
            raise UnsupportedGraphError(f"{where}: the kernel has no {op}")
        current = node.output[0]
    if pending_matmul is not None:
        layers.append(DenseLayer(pending_matmul, np.zeros(pending_matmul.shape[1], np.float32)))
    if current != graph.output[0].name:
        raise UnsupportedGraphError("the chain does not end at the graph's output")
    if not layers:
        raise UnsupportedGraphError("no dense layer")
    for k in range(1, len(layers)):
        if layers[k].weights.shape[0] != layers[k - 1].weights.shape[1]:
            raise UnsupportedGraphError(f"layer {k} takes {layers[k].weights.shape[0]} inputs, "
                              f"layer {k - 1} gives {layers[k - 1].weights.shape[1]}")  # fmt: skip
    return layers


def _check_pass_through(op: str, attrs: dict[str, object], where: str) -> None:
    if op == "Flatten" and attrs.get("axis", 1) != 1:
        raise UnsupportedGraphError(
            f"{where}: axis {attrs['axis']}, only 1 keeps a (batch, n) tensor"
        )
    if op == "Cast" and attrs.get("to") != onnx.TensorProto.FLOAT:
        raise UnsupportedGraphError(f"{where}: a cast to type {attrs.get('to')}, not float")


def _gemm(
    inputs: list[str], attrs: dict[str, object], constants: Constants, where: str
) -> DenseLayer:
    if (attrs.get("transA", 0), attrs.get("alpha", 1.0), attrs.get("beta", 1.0)) != (0, 1.0, 1.0):
        raise UnsupportedGraphError(f"{where}: transA, alpha or beta other than 0, 1, 1")
    weights = _constant(constants, inputs, 1, where, ndim=2)
    trans_b = attrs.get("transB", 0)
    if trans_b not in (0, 1):
        raise UnsupportedGraphError(f"{where}: transB {trans_b}, not 0 or 1")
    if trans_b == 1:
        weights = np.ascontiguousarray(weights.T)
    if len(inputs) < 3 or not inputs[2]:
        return DenseLayer(weights, np.zeros(weights.shape[1], np.float32))
    bias = _constant(constants, inputs, 2, where, ndim=1)
    if bias.shape[0] != weights.shape[1]:
        raise UnsupportedGraphError(
            f"{where}: a bias of {bias.shape[0]} for {weights.shape[1]} outputs"
        )
    return DenseLayer(weights, bias)


def _constant(
    constants: Constants, inputs: list[str], k: int, where: str, ndim: int
) -> npt.NDArray[np.float32]:
    if len(inputs) <= k or inputs[k] not in constants:
        raise UnsupportedGraphError(f"{where}: input {k} is not a constant")
    value = constants[inputs[k]]
    if value.dtype != np.float32 or value.ndim != ndim:
        raise UnsupportedGraphError(f"{where}: input {k} is {value.dtype} of {value.ndim} dimensions, "
                          f"not float32 of {ndim}")  # fmt: skip
    return np.ascontiguousarray(value, dtype=np.float32)
