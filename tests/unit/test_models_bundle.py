"""Bundle save/load round trip, and the errors of a broken or mismatched bundle."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.pan import find_pans
from features.registry import FEATURE_NAMES, registry_hash
from models.bundle import (
    IMPORTANCE_PLOT,
    METADATA_FILE,
    METRICS_FILE,
    PR_PLOT,
    REFERENCE_FILE,
    BundleError,
    FeatureMismatchError,
    load_bundle,
    new_version,
    save_bundle,
)
from models.protocol import fold_starts
from models.synthetic import synthetic_transactions
from models.train import TrainResult, train_model


@pytest.fixture(scope="module")
def result() -> TrainResult:
    df = synthetic_transactions()
    return train_model(
        df, train_start=fold_starts(df, 1)[0], window="strict", params={"learning_rate": 0.2}
    )


def edit_metadata(path: Path, **changes: object) -> None:
    meta = json.loads((path / METADATA_FILE).read_text())
    meta.update(changes)
    (path / METADATA_FILE).write_text(json.dumps(meta))


def test_round_trip(tmp_path: Path, result: TrainResult) -> None:
    saved = save_bundle(tmp_path, result, [result])
    loaded = load_bundle(saved.path)
    assert loaded.version == saved.version == saved.path.name
    assert loaded.feature_names == FEATURE_NAMES and loaded.registry_hash == registry_hash()
    assert loaded.threshold == pytest.approx(result.thresholds.review.threshold)
    assert loaded.block_threshold == pytest.approx(result.thresholds.block.threshold)
    x = result.reference[list(FEATURE_NAMES)].to_numpy()
    np.testing.assert_allclose(
        loaded.booster.predict(x), result.booster.predict(x), rtol=0, atol=1e-12
    )
    meta = loaded.metadata
    assert meta["thresholds"]["review"]["precision"] == result.thresholds.review.precision
    assert meta["training"]["window"] == "strict" and "lightgbm" in meta["libraries"]
    assert {"version", "created_at", "params"} <= set(meta)


def test_metrics_and_artifacts(tmp_path: Path, result: TrainResult) -> None:
    path = save_bundle(tmp_path, result).path
    metrics = json.loads((path / METRICS_FILE).read_text())
    assert metrics["average_precision"] == pytest.approx(result.metrics.average_precision)
    assert {"auc", "card_precision_at_100", "folds"} <= set(metrics)
    assert metrics["folds"][0]["train_start"] == str(result.train_start)
    ref = pd.read_parquet(path / REFERENCE_FILE)
    assert list(ref.columns) == [*FEATURE_NAMES, "score"] and 0 < len(ref) <= 5000
    for png in (PR_PLOT, IMPORTANCE_PLOT):
        assert (path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_missing_file_is_named(tmp_path: Path, result: TrainResult) -> None:
    path = save_bundle(tmp_path, result).path
    (path / "model.txt").unlink()
    with pytest.raises(BundleError, match=r"incomplete: missing model\.txt"):
        load_bundle(path)
    with pytest.raises(BundleError, match="no such bundle directory"):
        load_bundle(tmp_path / "nope")


def test_feature_mismatch_says_what_differs(tmp_path: Path, result: TrainResult) -> None:
    path = save_bundle(tmp_path, result).path
    edit_metadata(path, feature_names=[*FEATURE_NAMES[:-1], "amount_zscore"])
    with pytest.raises(FeatureMismatchError) as info:
        load_bundle(path)
    message = str(info.value)
    assert FEATURE_NAMES[-1] in message and "amount_zscore" in message


def test_order_and_hash_mismatch(tmp_path: Path, result: TrainResult) -> None:
    path = save_bundle(tmp_path, result).path
    edit_metadata(path, feature_names=list(reversed(FEATURE_NAMES)), registry_hash="0" * 16)
    with pytest.raises(FeatureMismatchError, match=r"different order.*registry hash 0000"):
        load_bundle(path)


def test_corrupt_metadata(tmp_path: Path, result: TrainResult) -> None:
    path = save_bundle(tmp_path, result).path
    (path / METADATA_FILE).write_text("{not json")
    with pytest.raises(BundleError, match=r"cannot read metadata\.json"):
        load_bundle(path)


def test_versions_never_look_like_card_numbers() -> None:
    """Dash-joined digit groups (the old ``20261127-082906-...``) passed Luhn one time in ten."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    old_style_flagged = 0
    for i in range(2000):
        now = start + timedelta(seconds=7919 * i)
        version = new_version(f"model {i}", now)
        assert find_pans(version) == [], version
        old_style = now.strftime("%Y%m%d-%H%M%S") + version[version.index("Z") + 1 :]
        old_style_flagged += bool(find_pans(old_style))
    assert old_style_flagged > 0, "the check cannot fail: no old-style version was flagged"


def test_versions_sort_by_creation_time() -> None:
    times = [
        datetime(2026, m, d, h, tzinfo=UTC) for m, d, h in [(1, 2, 3), (1, 2, 14), (11, 27, 0)]
    ]
    versions = [new_version("same model", t) for t in times]
    assert sorted(versions) == versions
    assert versions[0] == "20260102T030000Z-" + versions[0].split("-")[1]
