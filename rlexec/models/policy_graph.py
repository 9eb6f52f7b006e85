"""The policy's ONNX graph with its normalisation in front: one ORT run per decision.

`contract.Normaliser` (float32: subtract the mean, multiply by 1/std, clip) is the rule the
policy was trained with. Run in numpy it is five calls around the inference (~1.5 µs, more
than a third of it); as `Sub`, `Mul` and `Clip` nodes ahead of the model's own it costs ORT
about a third of that. Both are IEEE float32 element by element, so the scores are the same
bit for bit (a property test holds them to it); a NaN feature, which the normaliser imputes
at its mean, is replaced by that mean before the run (`OnnxPolicy.scores`), and ±inf clips
in the graph as `nan_to_num` + clip does in numpy.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rlexec.models.contract import Normaliser

PREFIX = "rlexec_normalise_"
"""Names of the added nodes and tensors; a model already using it is left as it is."""
MIN_OPSET = 11
"""`Clip` takes its bounds as inputs from opset 11 on."""


def with_normaliser(model_bytes: bytes, normaliser: Normaliser) -> bytes | None:
    """The model whose first input is normalised inside the graph, or None when the graph
    cannot take it (not one float input, an opset before 11, names taken): the caller then
    normalises in numpy."""
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    initialised = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialised]
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    names = {n for node in graph.node for n in (*node.input, *node.output)} | initialised
    if (
        len(inputs) != 1
        or inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT
        or opset < MIN_OPSET
        or any(name.startswith(PREFIX) for name in names)
        or any(out.name == inputs[0].name for out in graph.output)
    ):
        return None
    source, clipped = inputs[0].name, PREFIX + "clipped"
    for node in graph.node:  # the model's nodes read the normalised tensor instead
        for k, name in enumerate(node.input):
            if name == source:
                node.input[k] = clipped
    clip = np.float32(normaliser.clip)
    graph.initializer.extend([
        numpy_helper.from_array(normaliser.mean.astype(np.float32), PREFIX + "mean"),
        numpy_helper.from_array(normaliser.inv_std.astype(np.float32), PREFIX + "inv_std"),
        numpy_helper.from_array(np.array(-clip, np.float32), PREFIX + "low"),
        numpy_helper.from_array(np.array(clip, np.float32), PREFIX + "high"),
    ])  # fmt: skip
    added = [
        helper.make_node("Sub", [source, PREFIX + "mean"], [PREFIX + "centred"]),
        helper.make_node("Mul", [PREFIX + "centred", PREFIX + "inv_std"], [PREFIX + "scaled"]),
        helper.make_node("Clip", [PREFIX + "scaled", PREFIX + "low", PREFIX + "high"], [clipped]),
    ]
    for k, node in enumerate(added):
        graph.node.insert(k, node)
    fused: bytes = model.SerializeToString()
    return fused
