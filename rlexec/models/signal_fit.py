"""The signal's model families, each fitted on normalised features and converted to ONNX.

- `hgb`: sklearn's HistGradientBoostingRegressor, converted with skl2onnx;
- `mlp`: a small torch network (two hidden layers), exported with `torch.onnx.export`;
- `linear`: least squares on every feature (a baseline; exported through torch as well,
  so it could ship the same way).

Hyperparameters are fixed here, before any validation number was seen, and seeded. Every
family takes float32 input (the runtime feeds float32) and is trained on labels winsorised
at the 1st/99th percentiles of its training labels (a few 15-second moves of 20+ bps
otherwise dominate a squared loss); evaluation always uses the raw labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
FAMILIES = ("hgb", "mlp", "linear")
OPSET = 17

HGB_PARAMS: dict[str, Any] = {
    "max_iter": 150, "learning_rate": 0.05, "max_depth": 3, "min_samples_leaf": 300,
    "l2_regularization": 1.0, "early_stopping": False,
}  # fmt: skip
MLP_HIDDEN = 32
MLP_EPOCHS = 30
MLP_WEIGHT_DECAY = 1e-3


@dataclass
class Fitted:
    family: str
    predict: Callable[[F32], F64]
    """Predictions of the fitted model in its own library (float32 normalised input)."""
    export: Callable[[Path], None]
    """Write it as an ONNX graph: input "features" [batch, n] float32 → output [batch, 1]."""
    params: dict[str, Any]


def winsorise(y: F64) -> F64:
    lo, hi = np.percentile(y, [1, 99])
    return np.clip(y, lo, hi)


def fit(family: str, x: F32, y: F64, seed: int) -> Fitted:
    if family == "hgb":
        return _fit_hgb(x, winsorise(y), seed)
    if family in ("mlp", "linear"):
        return _fit_torch(family, x, winsorise(y), seed)
    raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")


def _fit_hgb(x: F32, y: F64, seed: int) -> Fitted:
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(**HGB_PARAMS, random_state=seed)
    model.fit(x, y)

    def predict(rows: F32) -> F64:
        return np.asarray(model.predict(np.asarray(rows, dtype=np.float32)), dtype=np.float64)

    def export(path: Path) -> None:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType

        with _integer_missing_flags():
            proto = to_onnx(
                model, initial_types=[("features", FloatTensorType([None, x.shape[1]]))],
                target_opset={"": OPSET, "ai.onnx.ml": 3},
            )  # fmt: skip
        path.write_bytes(proto.SerializeToString())

    return Fitted("hgb", predict, export, dict(HGB_PARAMS))


@contextmanager
def _integer_missing_flags() -> Iterator[None]:
    """skl2onnx 1.20's HistGradientBoosting converter gives leaves a Python `False` missing-
    value flag beside numpy integers for branches; protobuf 7 refuses a bool in an int
    list ("Expected an int, got a boolean"). Pass every flag as an int while converting;
    the export is then checked against sklearn's own predictions (tests, and every run)."""
    from skl2onnx.common import tree_ensemble

    original = getattr(tree_ensemble, "add_node", None)
    if original is None:  # a later skl2onnx arranged it differently: nothing to mend
        yield
        return

    def add_node(*args: Any, nodes_missing_value_tracks_true: Any = 0, **kwargs: Any) -> Any:
        flag = int(nodes_missing_value_tracks_true)
        return original(*args, nodes_missing_value_tracks_true=flag, **kwargs)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original


def _fit_torch(family: str, x: F32, y: F64, seed: int) -> Fitted:
    import torch

    torch.set_num_threads(1)  # deterministic reductions: the same run gives the same file
    torch.manual_seed(seed)
    n = x.shape[1]
    if family == "mlp":
        net: torch.nn.Module = torch.nn.Sequential(
            torch.nn.Linear(n, MLP_HIDDEN), torch.nn.ReLU(),
            torch.nn.Linear(MLP_HIDDEN, MLP_HIDDEN), torch.nn.ReLU(),
            torch.nn.Linear(MLP_HIDDEN, 1),
        )  # fmt: skip
        params: dict[str, Any] = {
            "hidden": [MLP_HIDDEN, MLP_HIDDEN], "epochs": MLP_EPOCHS, "batch": 256,
            "optimizer": "adam", "lr": 1e-3, "weight_decay": MLP_WEIGHT_DECAY, "loss": "mse",
        }  # fmt: skip
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        yt = torch.from_numpy(np.asarray(y, dtype=np.float32)).reshape(-1, 1)
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=MLP_WEIGHT_DECAY)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(MLP_EPOCHS):
            order = torch.randperm(len(xt), generator=generator)
            for start in range(0, len(xt), 256):
                idx = order[start : start + 256]
                optimiser.zero_grad()
                loss = torch.nn.functional.mse_loss(net(xt[idx]), yt[idx])
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
    else:  # least squares, solved exactly, in a torch layer so it exports like the MLP
        design = np.column_stack([x.astype(np.float64), np.ones(len(x))])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        layer = torch.nn.Linear(n, 1)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(coef[:-1].astype(np.float32)).reshape(1, -1))
            layer.bias.copy_(torch.tensor([coef[-1]], dtype=torch.float32))
        net = layer
        params = {"solver": "lstsq", "coef": [round(float(c), 6) for c in coef]}
    net.eval()

    def predict(rows: F32) -> F64:
        with torch.no_grad():
            out = net(torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)))
        return np.asarray(out.numpy(), dtype=np.float64).reshape(-1)

    def export(path: Path) -> None:
        import warnings

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                net, (torch.zeros(1, n),), str(path), opset_version=OPSET, dynamo=False,
                input_names=["features"], output_names=["mid_move_bps"],
                dynamic_axes={"features": {0: "batch"}, "mid_move_bps": {0: "batch"}},
            )  # fmt: skip

    return Fitted(family, predict, export, params)
