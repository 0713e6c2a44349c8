"""Model bundles on disk, and which one is served.

Layout under the root (``Settings.model_dir``, default ``var/models``)::

    root/bundles/<version>/   one directory per bundle (models.bundle)
    root/current              the served version, one line
    root/history              versions that were current before, oldest first (for rollback)

Pointer files are replaced atomically (write a temporary file, fsync, ``os.replace``), so a worker
reading ``current`` during a promotion sees the old or the new version, never half a line.
Promotion loads the bundle first: a bundle whose features do not match the registry is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.bundle import (
    METADATA_FILE,
    METRICS_FILE,
    ModelBundle,
    load_bundle,
    read_json,
    save_bundle,
)
from models.errors import BundleError, RegistryError
from models.train import TrainResult

BUNDLES, CURRENT, HISTORY = "bundles", "current", "history"


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """What ``models list`` shows about a bundle, read without loading the model."""

    version: str
    path: Path
    created_at: str
    average_precision: float | None
    card_precision_at_100: float | None
    threshold: float | None
    window: str | None
    current: bool


def bundles_dir(root: Path) -> Path:
    return Path(root) / BUNDLES


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def current_version(root: Path) -> str | None:
    """The served version, or None before the first promotion."""
    lines = _read_lines(Path(root) / CURRENT)
    return lines[0] if lines else None


def history(root: Path) -> list[str]:
    """Previously served versions, oldest first."""
    return _read_lines(Path(root) / HISTORY)


def _info(path: Path, current: str | None) -> BundleInfo:
    meta = read_json(path / METADATA_FILE)
    try:
        metrics: Mapping[str, Any] = read_json(path / METRICS_FILE)
    except BundleError:
        metrics = {}
    review = meta.get("thresholds", {}).get("review", {}).get("threshold")
    return BundleInfo(
        version=path.name,
        path=path,
        created_at=str(meta.get("created_at", "")),
        average_precision=metrics.get("average_precision"),
        card_precision_at_100=metrics.get("card_precision_at_100"),
        threshold=None if review is None else float(review),
        window=meta.get("training", {}).get("window"),
        current=path.name == current,
    )


def list_bundles(root: Path) -> list[BundleInfo]:
    """Every bundle under the root, oldest first (versions sort by creation time)."""
    base = bundles_dir(root)
    if not base.is_dir():
        return []
    current = current_version(root)
    paths = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [_info(p, current) for p in paths]


def bundle_path(root: Path, version: str) -> Path:
    """The directory of ``version``; RegistryError if there is no such bundle."""
    path = bundles_dir(root) / version
    if "/" in version or version.startswith(".") or not path.is_dir():
        known = ", ".join(b.version for b in list_bundles(root)[-5:]) or "none"
        raise RegistryError(f"unknown model version {version!r} (latest: {known})")
    return path


def promote(root: Path, version: str) -> ModelBundle:
    """Serve ``version``: check it loads and matches the features, then move the pointer."""
    bundle = load_bundle(bundle_path(root, version))
    previous = current_version(root)
    if previous == version:
        return bundle
    if previous is not None:
        _write_atomic(Path(root) / HISTORY, "\n".join([*history(root), previous]) + "\n")
    _write_atomic(Path(root) / CURRENT, version + "\n")
    return bundle


def rollback(root: Path) -> str:
    """Serve the previously served version again; returns it."""
    past = history(root)
    if not past:
        raise RegistryError("nothing to roll back to: no model was served before the current one")
    target = past[-1]
    load_bundle(bundle_path(root, target))
    _write_atomic(Path(root) / CURRENT, target + "\n")
    _write_atomic(Path(root) / HISTORY, "".join(f"{v}\n" for v in past[:-1]))
    return target


def current_bundle(root: Path) -> ModelBundle:
    """The served bundle, loaded and checked; RegistryError if none was promoted."""
    version = current_version(root)
    if version is None:
        raise RegistryError(
            f"no model is current under {root}; train one with "
            "`fraudscore train` or run `fraudscore models promote VERSION`"
        )
    return load_bundle(bundle_path(root, version))


def add_bundle(
    root: Path,
    result: TrainResult,
    folds: Sequence[TrainResult] = (),
    *,
    promote_it: bool | None = None,
) -> ModelBundle:
    """Save a trained model under the root; promote it if asked (None: only if none is current)."""
    bundle = save_bundle(bundles_dir(root), result, folds)
    if promote_it or (promote_it is None and current_version(root) is None):
        promote(root, bundle.version)
    return bundle
