"""The price-move signal: its runtime's contract checks, its dataset's window discipline, the
ONNX exports against the libraries that fitted them, and the training run end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from rlexec.market.signal_features import SIGNAL_FEATURE_NAMES, SignalConfig
from rlexec.models.contract import (
    META_TRAINING,
)
from rlexec.models.market_stats import Window
from rlexec.models.policy import DEFAULT_MODEL
from rlexec.models.signal import (
    DEFAULT_SIGNAL,
    META_VALIDATION,
    SignalError,
    SignalModel,
)
from rlexec.models.signal_data import SignalDataset, build, sample_times
from rlexec.simulator.data import ReplayData
from tests.signal_support import signal_model

_NS = 1_000_000_000
N = len(SIGNAL_FEATURE_NAMES)


@pytest.fixture(scope="module")
def aapl(aapl_message: Path) -> ReplayData:
    return ReplayData.load(aapl_message)


# -- the runtime ------------------------------------------------------------------------------


def test_predicts_on_normalised_features(tmp_path: Path) -> None:
    weights = np.zeros(N, dtype=np.float32)
    weights[SIGNAL_FEATURE_NAMES.index("ofi_short")] = 3.0
    model = SignalModel(signal_model(tmp_path / "s.onnx", weights))
    raw = [0.0] * N
    raw[0] = 4.0  # std 2 → normalised 2 → 3 × 2
    assert model.predict(raw) == pytest.approx(6.0)
    raw[0] = math.nan  # imputed at the mean (0) like the policy's observation
    assert model.predict(raw) == pytest.approx(0.0)
    assert model.predict(raw[:-1]) is None
    assert model.feature_config == SignalConfig()
    assert model.horizon_s == 15.0


@pytest.mark.parametrize(
    ("names", "complaint"),
    [
        (SIGNAL_FEATURE_NAMES[::-1], "feature order differs from position 0"),
        (
            SIGNAL_FEATURE_NAMES[:-1],
            "service builds features the model was not trained on: volatility_bps",
        ),
        ((*SIGNAL_FEATURE_NAMES, "alpha"), "model needs features the service cannot build: alpha"),
    ],
)
def test_refuses_a_model_whose_feature_list_differs(
    tmp_path: Path, names: tuple[str, ...], complaint: str
) -> None:
    path = signal_model(tmp_path / "s.onnx", np.ones(len(names), np.float32), names)
    with pytest.raises(SignalError, match="refused") as err:
        SignalModel(path)
    assert complaint in str(err.value)
    assert str(path) in str(err.value)


def test_refuses_what_is_not_a_signal_model(tmp_path: Path) -> None:
    with pytest.raises(SignalError, match=r"not a signal model, metadata lacks rlexec\.kind"):
        SignalModel(DEFAULT_MODEL)  # the policy
    with pytest.raises(SignalError, match="no such signal model file"):
        SignalModel(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(SignalError, match="not a loadable ONNX model"):
        SignalModel(tmp_path / "junk.onnx")
    with pytest.raises(SignalError, match="kind is 'policy'"):
        SignalModel(signal_model(tmp_path / "k.onnx", meta={"rlexec.kind": "policy"}))


def test_the_shipped_signal_loads_and_says_what_it_was_trained_on() -> None:
    model = SignalModel()
    assert model.path == DEFAULT_SIGNAL
    assert model.feature_names == SIGNAL_FEATURE_NAMES
    training = json.loads(model.metadata[META_TRAINING])
    assert training["window"] == "09:35-13:00"
    assert training["validation_window"] == "12:20-13:00"
    assert training["data"].startswith("AAPL_2012-06-21")
    validation = json.loads(model.metadata[META_VALIDATION])
    assert {"validation", "baselines", "families"} <= set(validation)
    assert DEFAULT_SIGNAL.stat().st_size < 1_000_000


# -- the dataset ------------------------------------------------------------------------------


def test_dataset_never_leaves_its_window_and_labels_are_the_mid_move(aapl: ReplayData) -> None:
    window = Window.parse("10:00-10:20")
    ds = build(aapl, window, horizon_s=15.0, step_s=0.5, warmup_s=60.0, seed=3)
    h = 15 * _NS
    assert len(ds) > 2_000
    assert ds.ts_ns.min() >= window.start_ns + 60 * _NS
    assert (ds.ts_ns + h).max() <= window.end_ns
    # labels recomputed from the LOBSTER orderbook columns
    ts = np.asarray(aapl.ts_ns)
    book = np.asarray(aapl.book).reshape(-1, aapl.width)
    mid = (book[:, 0] + book[:, 2]) / 2

    def mid_at(t: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.asarray(mid[np.searchsorted(ts, t, side="right") - 1])

    want = (mid_at(ds.ts_ns + h) / mid_at(ds.ts_ns) - 1) * 1e4
    np.testing.assert_allclose(ds.y, want, rtol=0, atol=1e-9)
    assert ds.x.shape == (len(ds), N)
    assert np.isfinite(ds.x).all()  # AAPL's book is never one-sided and always printing


def test_between_keeps_only_whole_label_intervals() -> None:
    ts = np.array([0, 5, 10, 20], dtype=np.int64) * _NS
    ds = SignalDataset(ts, np.zeros((4, N)), np.arange(4.0, dtype=np.float64), horizon_s=10.0)
    assert ds.between(0, 20 * _NS).ts_ns.tolist() == [0, 5 * _NS, 10 * _NS]
    assert ds.between(5 * _NS, 40 * _NS).ts_ns.tolist() == [5 * _NS, 10 * _NS, 20 * _NS]


def test_sample_times_are_fixed_by_the_seed() -> None:
    window = Window.parse("10:00-10:10")
    a = sample_times(window, 15.0, 1.0, 30.0, seed=1)
    assert a == sample_times(window, 15.0, 1.0, 30.0, seed=1)
    assert a != sample_times(window, 15.0, 1.0, 30.0, seed=2)
    assert all(window.start_ns + 30 * _NS <= t <= window.end_ns - 15 * _NS for t in a)
    assert len(a) == 600 - 45
    with pytest.raises(ValueError, match="too short"):
        sample_times(Window.parse("10:00-10:01"), 15.0, 1.0, 60.0, seed=1)


# -- the fitted families and their exports ----------------------------------------------------


@pytest.mark.train
@pytest.mark.parametrize("family", ["hgb", "mlp", "linear"])
def test_onnx_export_reproduces_the_fitted_model(
    aapl: ReplayData, tmp_path: Path, family: str
) -> None:
    from rlexec.models.signal_fit import fit
    from rlexec.models.signal_train import _normalised, _write_metadata, fit_normaliser

    ds = build(aapl, Window.parse("10:00-10:40"), step_s=1.0, seed=5)
    assert len(ds) >= 2_000
    train, test = ds.x[:1_000], ds.x[-1_000:]
    norm = fit_normaliser(train)
    model = fit(family, _normalised(norm, train), ds.y[:1_000], seed=0)
    path = tmp_path / f"{family}.onnx"
    model.export(path)
    _write_metadata(path, norm, SignalConfig(), 15.0, {"family": family}, {})
    runtime = SignalModel(path)
    native = model.predict(_normalised(norm, test))
    assert np.ptp(native) > 0  # not a constant model: the comparison means something
    np.testing.assert_allclose(runtime.predict_batch(test), native, rtol=1e-5, atol=1e-5)
    one = runtime.predict(list(test[17]))
    assert one == pytest.approx(native[17], rel=1e-5, abs=1e-5)


@pytest.mark.train
@pytest.mark.slow
def test_training_run_writes_a_loadable_model_with_its_numbers(
    tmp_path: Path, aapl_message: Path
) -> None:
    from rlexec.models.signal_card import NAME
    from rlexec.models.signal_train import SignalSettings, train_signal

    settings = SignalSettings(
        data=str(aapl_message), window="10:00-10:45", validation="10:35-10:45", step_s=2.0,
        warmup_s=60.0, folds=2,
    )  # fmt: skip
    record = train_signal(settings, tmp_path, log=lambda msg: None)
    model = SignalModel(tmp_path / f"{NAME}.onnx")
    assert model.sha256 == record["model"]["sha256"]
    training = json.loads(model.metadata[META_TRAINING])
    assert training["window"] == "10:00-10:45"
    assert training["family"] == record["report"]["chosen"]
    report = json.loads(model.metadata[META_VALIDATION])
    assert set(report["baselines"]) == {"zero", "microprice", "linear"}
    assert report["baselines"]["zero"]["r2"] <= 0.0
    for row in report["families"].values():
        assert -1 <= row["spearman_ic"] <= 1 and 0 <= row["hit_rate"] <= 1
    assert json.loads((tmp_path / "signal.json").read_text())["model"] == model.identity
    assert "Spearman IC" in (tmp_path / f"{NAME}.md").read_text()


def test_training_command_reports_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rlexec.models.signal import (
        main,
    )

    assert main(["train", "--out", str(tmp_path), "--validation", "08:00-09:00"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rlexec signal: error: validation 08:00-09:00 must be the last part")
    assert "\n" not in err
    assert main(["train", "--out", str(tmp_path), "--data", str(tmp_path / "none.csv")]) == 2
    assert "none.csv" in capsys.readouterr().err
