"""A model bundle: one self-describing, versioned directory per trained model.

Layout (``save_bundle`` writes it in a temporary directory, then renames it into place, so a
reader never sees half a bundle)::

    <version>/
        model.txt               LightGBM text model
        metadata.json           version, created_at, feature names (ordered), registry hash,
                                thresholds {review, block} with expected precision/recall,
                                training window, params, library versions
        metrics.json            test-week auc, average_precision, card_precision_at_100 (mean over
                                folds) and the per-fold values
        reference.parquet       feature vectors + "score" from the last training week (drift)
        pr_curve.png, feature_importance.png

``load_bundle`` refuses a bundle whose features differ from ``features.registry``: a model is only
served with the features it was trained on (fail at startup, not at message 10,000).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from types import MappingProxyType
from typing import Any

import lightgbm as lgb

from features.registry import FEATURE_NAMES, registry_hash
from models import plots
from models.errors import BundleError, FeatureMismatchError
from models.protocol import TRAIN_DAYS
from models.train import FoldMetrics, TrainResult

__all__ = ["BundleError", "FeatureMismatchError", "ModelBundle", "load_bundle", "save_bundle"]

FORMAT = 1
MODEL_FILE = "model.txt"
METADATA_FILE = "metadata.json"
METRICS_FILE = "metrics.json"
REFERENCE_FILE = "reference.parquet"
PR_PLOT = "pr_curve.png"
IMPORTANCE_PLOT = "feature_importance.png"
REQUIRED_FILES = (MODEL_FILE, METADATA_FILE, METRICS_FILE, REFERENCE_FILE)
LIBRARIES = ("lightgbm", "numpy", "pandas", "scikit-learn", "pyarrow")


@dataclass(frozen=True)
class ModelBundle:
    """A loaded bundle: the booster and what the worker needs to serve it."""

    version: str
    path: Path
    feature_names: tuple[str, ...]
    registry_hash: str
    threshold: float  # review tier
    block_threshold: float
    metadata: Mapping[str, Any]
    booster: lgb.Booster


def new_version(model_text: str, now: datetime | None = None) -> str:
    """Sortable, unique: UTC creation time plus a short hash of the model.

    ``20261127T082906Z-ee5649``: letters between the digit groups, because dash-joined digits
    (``20261127-082906-...``) pass the Luhn check one time in ten and a bank's DLP scanner would
    flag alerts and score records carrying them as card numbers. Older versions keep their names
    and still sort first.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{hashlib.sha256(model_text.encode()).hexdigest()[:6]}"


def _unused(parent: Path, version: str) -> str:
    """``version``, or ``version-2``, ``-3``... when the same model was saved in the same second."""
    candidate, n = version, 1
    while (parent / candidate).exists():
        n += 1
        candidate = f"{version}-{n}"
    return candidate


def _libraries() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = package_version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def _fold_dict(m: FoldMetrics) -> dict[str, Any]:
    out = asdict(m)
    out["train_start"], out["test_start"] = str(m.train_start), str(m.test_start)
    return out


def metrics_dict(results: Sequence[TrainResult]) -> dict[str, Any]:
    """Mean test metrics over the folds, and each fold's."""
    folds = [r.metrics for r in results]

    def mean(key: str) -> float:
        return sum(float(getattr(f, key)) for f in folds) / len(folds)

    return {
        "auc": mean("auc"),
        "average_precision": mean("average_precision"),
        "card_precision_at_100": mean("card_precision_at_100"),
        "n_folds": len(folds),
        "window": results[0].window,
        "folds": [_fold_dict(f) for f in folds],
    }


def metadata_dict(
    result: TrainResult, version: str, created_at: datetime, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    m = result.metrics
    return {
        "format": FORMAT,
        "version": version,
        "created_at": created_at.isoformat(),
        "feature_names": list(FEATURE_NAMES),
        "registry_hash": registry_hash(),
        "thresholds": result.thresholds.to_dict(),
        "training": {
            "window": result.window,
            "history_days": result.history_days,
            "train_start": str(result.train_start),
            "train_end_exclusive": str(result.train_start + timedelta(days=TRAIN_DAYS)),
            "test_week_start": str(m.test_start),
            "n_train": m.n_train,
            "n_train_frauds": m.n_train_frauds,
            "num_boost_round": result.num_boost_round,
        },
        "thresholds_chosen_on": (
            f"days {result.train_start} .. {result.train_start + timedelta(days=TRAIN_DAYS - 1)}"
            " scored by the early-stopping model (trained 14 days earlier)"
        ),
        "params": result.params,
        "libraries": _libraries(),
        "score": "probability of fraud",
        **(extra or {}),
    }


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def save_bundle(
    parent: Path,
    result: TrainResult,
    folds: Sequence[TrainResult] = (),
    *,
    version: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ModelBundle:
    """Write ``result`` (the model to serve) as ``parent/<version>``; metrics over ``folds``.

    ``folds`` are the protocol's fold results (``result`` among them); empty means just ``result``.
    """
    text = result.booster.model_to_string()
    created = datetime.now(UTC)
    version = version or _unused(parent, new_version(text, created))
    final, tmp = parent / version, parent / f".tmp-{version}-{os.getpid()}"
    if final.exists():
        raise BundleError(f"{final}: a bundle with this version already exists")
    try:
        tmp.mkdir(parents=True)
        (tmp / MODEL_FILE).write_text(text)
        _write_json(tmp / METADATA_FILE, metadata_dict(result, version, created, extra))
        _write_json(tmp / METRICS_FILE, metrics_dict(list(folds) or [result]))
        result.reference.to_parquet(tmp / REFERENCE_FILE, index=False)
        plots.pr_curve(list(folds) or [result], tmp / PR_PLOT)
        plots.feature_importance(result.booster, tmp / IMPORTANCE_PLOT)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BundleError(f"cannot write bundle {final}: {exc}") from exc
    return load_bundle(final)


def read_json(path: Path) -> dict[str, Any]:
    """A bundle's JSON file, with BundleError on a missing or corrupt file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BundleError(f"bundle {path.parent} is incomplete: missing {path.name}") from exc
    except (OSError, ValueError) as exc:
        raise BundleError(f"bundle {path.parent}: cannot read {path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"bundle {path.parent}: {path.name} is not a JSON object")
    return data


def feature_differences(names: Sequence[str], bundle_hash: str) -> list[str]:
    """What differs between a bundle's features and ``features.registry`` (empty = same)."""
    diffs = []
    missing = [n for n in FEATURE_NAMES if n not in names]
    extra = [n for n in names if n not in FEATURE_NAMES]
    if missing:
        diffs.append(f"registry features missing from the bundle: {', '.join(missing)}")
    if extra:
        diffs.append(f"bundle features unknown to the registry: {', '.join(extra)}")
    if not missing and not extra and tuple(names) != FEATURE_NAMES:
        diffs.append("same features in a different order")
    if bundle_hash != registry_hash():
        diffs.append(f"registry hash {bundle_hash} != current {registry_hash()}")
    return diffs


def _booster(path: Path) -> lgb.Booster:
    try:
        return lgb.Booster(model_file=str(path))
    except (lgb.basic.LightGBMError, OSError) as exc:
        raise BundleError(f"bundle {path.parent}: cannot load {path.name}: {exc}") from exc


def load_bundle(path: Path) -> ModelBundle:
    """Load and check a bundle directory (BundleError / FeatureMismatchError say what is wrong)."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: no such bundle directory")
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise BundleError(f"bundle {path} is incomplete: missing {', '.join(missing)}")
    meta = read_json(path / METADATA_FILE)
    try:
        names = tuple(str(n) for n in meta["feature_names"])
        digest, thresholds = str(meta["registry_hash"]), meta["thresholds"]
        review = float(thresholds["review"]["threshold"])
        block = float(thresholds["block"]["threshold"])
        version = str(meta["version"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"bundle {path}: metadata.json lacks {exc}") from exc
    diffs = feature_differences(names, digest)
    if diffs:
        raise FeatureMismatchError(
            f"bundle {version} does not match the feature registry: " + "; ".join(diffs)
        )
    booster = _booster(path / MODEL_FILE)
    if tuple(booster.feature_name()) != names:
        raise FeatureMismatchError(f"bundle {version}: model.txt features differ from metadata")
    return ModelBundle(version, path, names, digest, review, block, MappingProxyType(meta), booster)
