"""Registry: list, promote, rollback, current bundle; pointer files stay whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import registry
from models.errors import FeatureMismatchError, RegistryError
from models.protocol import fold_starts
from models.synthetic import synthetic_transactions
from models.train import TrainResult, train_model


@pytest.fixture(scope="module")
def result() -> TrainResult:
    df = synthetic_transactions()
    return train_model(
        df, train_start=fold_starts(df, 1)[0], window="strict", params={"learning_rate": 0.2}
    )


def add(root: Path, result: TrainResult, n: int) -> list[str]:
    return [registry.add_bundle(root, result, promote_it=False).version for _ in range(n)]


def test_first_bundle_is_promoted_by_default(tmp_path: Path, result: TrainResult) -> None:
    first = registry.add_bundle(tmp_path, result)
    second = registry.add_bundle(tmp_path, result)
    assert registry.current_version(tmp_path) == first.version != second.version
    assert registry.current_bundle(tmp_path).version == first.version


def test_promote_and_rollback(tmp_path: Path, result: TrainResult) -> None:
    a, b, c = add(tmp_path, result, 3)
    assert registry.current_version(tmp_path) is None
    for v in (a, b, c):
        registry.promote(tmp_path, v)
    assert registry.history(tmp_path) == [a, b]
    assert registry.rollback(tmp_path) == b
    assert registry.current_version(tmp_path) == b
    assert registry.rollback(tmp_path) == a
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback(tmp_path)
    assert registry.current_version(tmp_path) == a
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_promote_current_again_keeps_history(tmp_path: Path, result: TrainResult) -> None:
    (a,) = add(tmp_path, result, 1)
    registry.promote(tmp_path, a)
    registry.promote(tmp_path, a)
    assert registry.history(tmp_path) == []


def test_list_bundles_marks_current(tmp_path: Path, result: TrainResult) -> None:
    versions = add(tmp_path, result, 2)
    registry.promote(tmp_path, versions[1])
    infos = registry.list_bundles(tmp_path)
    assert [i.version for i in infos] == sorted(versions)
    assert [i.current for i in infos] == [v == versions[1] for v in sorted(versions)]
    assert infos[0].average_precision == pytest.approx(result.metrics.average_precision)
    assert infos[0].threshold == pytest.approx(result.thresholds.review.threshold)


def test_unknown_version_and_no_current(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="unknown model version 'v9'"):
        registry.promote(tmp_path, "v9")
    with pytest.raises(RegistryError, match="no model is current"):
        registry.current_bundle(tmp_path)
    assert registry.list_bundles(tmp_path) == []


def test_mismatched_bundle_is_not_promoted(tmp_path: Path, result: TrainResult) -> None:
    (a,) = add(tmp_path, result, 1)
    meta = registry.bundles_dir(tmp_path) / a / "metadata.json"
    meta.write_text(meta.read_text().replace('"amount"', '"amount_eur"', 1))
    with pytest.raises(FeatureMismatchError):
        registry.promote(tmp_path, a)
    assert registry.current_version(tmp_path) is None
