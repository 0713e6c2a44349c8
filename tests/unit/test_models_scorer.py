"""Scorer: one batch call equals per-row calls; lleaves equals LightGBM; contributions add up."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from features.registry import FEATURE_NAMES
from models.bundle import ModelBundle, save_bundle
from models.errors import BackendError
from models.protocol import fold_starts
from models.scorer import Scorer, compiled_path
from models.synthetic import synthetic_transactions
from models.train import TrainResult, train_model

HAS_LLEAVES = importlib.util.find_spec("lleaves") is not None


@pytest.fixture(scope="module")
def result() -> TrainResult:
    df = synthetic_transactions()
    return train_model(
        df,
        train_start=fold_starts(df, 1)[0],
        window="strict",
        params={"learning_rate": 0.2, "num_leaves": 15},
    )


@pytest.fixture(scope="module")
def bundle(result: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    return save_bundle(tmp_path_factory.mktemp("bundles"), result)


@pytest.fixture(scope="module")
def x(result: TrainResult) -> np.ndarray:
    return result.reference[list(FEATURE_NAMES)].to_numpy(dtype=np.float64)[:300]


def test_batch_equals_per_row(bundle: ModelBundle, x: np.ndarray) -> None:
    scorer = Scorer(bundle)
    batch = scorer.predict(x)
    rows = np.array([scorer.predict(x[i : i + 1])[0] for i in range(len(x))])
    np.testing.assert_array_equal(batch, rows)
    assert batch.shape == (len(x),) and ((batch >= 0) & (batch <= 1)).all()


def test_empty_batch_and_wrong_width(bundle: ModelBundle, x: np.ndarray) -> None:
    scorer = Scorer(bundle)
    assert scorer.predict(x[:0]).shape == (0,)
    with pytest.raises(ValueError, match=f"\\(n, {len(FEATURE_NAMES)}\\)"):
        scorer.predict(x[:, :-1])


def test_contributions_sum_to_raw_score(bundle: ModelBundle, x: np.ndarray) -> None:
    scorer = Scorer(bundle)
    contrib = scorer.contributions(x[:20])
    assert contrib.shape == (20, len(FEATURE_NAMES))
    full = np.asarray(bundle.booster.predict(x[:20], pred_contrib=True))
    raw = bundle.booster.predict(x[:20], raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1) + full[:, -1], raw, atol=1e-9)


def test_unknown_backend(bundle: ModelBundle) -> None:
    with pytest.raises(BackendError, match="unknown backend"):
        Scorer(bundle, "onnx")  # type: ignore[arg-type]


@pytest.mark.skipif(not HAS_LLEAVES, reason="lleaves is not installed (extra 'fast')")
def test_lleaves_equals_lightgbm(bundle: ModelBundle, x: np.ndarray, tmp_path: Path) -> None:
    fast = Scorer(bundle, "lleaves", cache_dir=tmp_path)
    np.testing.assert_allclose(fast.predict(x), Scorer(bundle).predict(x), rtol=0, atol=1e-9)
    cached = compiled_path(bundle, tmp_path)
    assert cached.is_file()
    stamp = cached.stat().st_mtime_ns
    again = Scorer(bundle, "lleaves", cache_dir=tmp_path)  # loads the cached shared object
    assert cached.stat().st_mtime_ns == stamp
    np.testing.assert_allclose(again.predict(x[:5]), fast.predict(x[:5]), rtol=0, atol=1e-9)
