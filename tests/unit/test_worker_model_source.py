"""Hot reload without sockets: the worker follows the registry's pointer, refuses a bad bundle."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from features.registry import FEATURE_NAMES
from models import registry
from models import serving as model_source
from models.bundle import METADATA_FILE
from models.protocol import fold_starts
from models.serving import ModelSource, NoModel
from models.synthetic import synthetic_transactions
from models.train import TrainResult, train_model


@pytest.fixture(scope="module")
def result() -> TrainResult:
    df = synthetic_transactions()
    return train_model(
        df, train_start=fold_starts(df, 1)[0], window="strict", params={"learning_rate": 0.2}
    )


def test_no_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NoModel, match="fraudscore train"):
        ModelSource(tmp_path)


def test_follows_promotion_and_refuses_an_incompatible_bundle(
    tmp_path: Path, result: TrainResult, caplog: pytest.LogCaptureFixture
) -> None:
    first = registry.add_bundle(tmp_path, result, promote_it=True).version
    second = registry.add_bundle(tmp_path, result, promote_it=False).version
    source = ModelSource(tmp_path, check_every_s=0.0)
    assert source().version == first
    x = np.zeros((3, len(FEATURE_NAMES)))
    assert source().predict(x).shape == (3,)

    registry.promote(tmp_path, second)
    assert source().version == second

    bad = registry.add_bundle(tmp_path, result, promote_it=False)
    meta_path = bad.path / METADATA_FILE
    meta = json.loads(meta_path.read_text())
    meta["feature_names"] = list(reversed(meta["feature_names"]))
    meta_path.write_text(json.dumps(meta))
    (tmp_path / "current").write_text(bad.version + "\n")  # as if promoted by an older tool
    with caplog.at_level(logging.ERROR, logger="models.serving"):
        assert source().version == second, "keeps serving the last good model"
    assert "refusing new model" in caplog.text


def test_follows_the_registry_challenger_until_it_is_promoted(
    tmp_path: Path, result: TrainResult, caplog: pytest.LogCaptureFixture
) -> None:
    champion = registry.add_bundle(tmp_path, result, promote_it=True).version
    source = ModelSource(tmp_path, check_every_s=0.0)
    assert source().version == champion and source.shadow() is None

    kept = registry.add_bundle(tmp_path, result, promote_it=False).version
    registry.set_challenger(tmp_path, kept, {"reason": "gate: challenger"})
    assert source().version == champion
    shadow = source.shadow()
    assert shadow is not None and shadow.version == kept, "a running worker picks it up"

    broken = registry.add_bundle(tmp_path, result, promote_it=False)
    (broken.path / METADATA_FILE).write_text("{")
    (tmp_path / registry.CHALLENGER).write_text(broken.version + "\n")
    with caplog.at_level(logging.ERROR, logger="models.serving"):
        for _ in range(3):
            source()
    assert source.shadow() is shadow, "a challenger that does not load leaves the last one"
    assert caplog.text.count("refusing challenger") == 1, "refused once, not every check"

    (tmp_path / registry.CHALLENGER).write_text(kept + "\n")
    registry.promote(tmp_path, kept)
    assert source().version == kept
    assert source.shadow() is None, "promoted: the champion is not its own shadow"


def test_a_promoted_challenger_is_no_longer_shadowed(tmp_path: Path, result: TrainResult) -> None:
    registry.add_bundle(tmp_path, result, promote_it=True)
    kept = registry.add_bundle(tmp_path, result, promote_it=False).version
    registry.set_challenger(tmp_path, kept, {"reason": "gate: challenger"})
    source = ModelSource(tmp_path, check_every_s=0.0)
    assert source.shadow() is not None, "the registry's challenger is read at start"
    registry.promote(tmp_path, kept)
    assert source().version == kept and source.shadow() is None


def test_a_pinned_challenger_ignores_the_registry(tmp_path: Path, result: TrainResult) -> None:
    registry.add_bundle(tmp_path, result, promote_it=True)
    pinned = registry.add_bundle(tmp_path, result, promote_it=False).version
    other = registry.add_bundle(tmp_path, result, promote_it=False).version
    registry.set_challenger(tmp_path, other, {"reason": "gate: challenger"})
    source = ModelSource(tmp_path, check_every_s=0.0, challenger=pinned)
    source()
    shadow = source.shadow()
    assert shadow is not None and shadow.version == pinned


def test_a_refused_challenger_is_tried_again_later_and_a_pointer_race_is_survived(
    tmp_path: Path, result: TrainResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.add_bundle(tmp_path, result, promote_it=True)
    fixed = registry.add_bundle(tmp_path, result, promote_it=False)
    meta = (fixed.path / METADATA_FILE).read_text()
    (fixed.path / METADATA_FILE).write_text("{")
    (tmp_path / registry.CHALLENGER).write_text(fixed.version + "\n")
    source = ModelSource(tmp_path, check_every_s=0.0)
    assert source.shadow() is None
    (fixed.path / METADATA_FILE).write_text(meta)  # repaired in place
    source()
    assert source.shadow() is None, "not retried before RETRY_REFUSED_S"
    monkeypatch.setattr(model_source, "RETRY_REFUSED_S", 0.0)
    source()
    shadow = source.shadow()
    assert shadow is not None and shadow.version == fixed.version

    def vanished(root: Path) -> str | None:  # promote() unlinks the pointer between two reads
        raise FileNotFoundError(root / registry.CHALLENGER)

    monkeypatch.setattr(registry, "challenger_version", vanished)
    assert source().version == registry.current_version(tmp_path)
    assert source.shadow() is shadow, "kept until the pointer can be read again"


def test_a_pinned_challenger_that_is_the_champion_is_not_scored_twice(
    tmp_path: Path, result: TrainResult
) -> None:
    champion = registry.add_bundle(tmp_path, result, promote_it=True).version
    source = ModelSource(tmp_path, check_every_s=0.0, challenger=champion)
    assert source().version == champion and source.shadow() is None
