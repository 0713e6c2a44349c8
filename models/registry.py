"""Model bundles on disk, and which one is served.

Layout under the root (``Settings.model_dir``, default ``var/models``)::

    root/bundles/<version>/   one directory per bundle (models.bundle)
    root/current              the served version, one line
    root/history              versions that were current before, oldest first (for rollback)
    root/challenger           the version kept as challenger by the promotion gate, one line
    root/decisions.jsonl      append-only log: every promotion, rollback and gate decision, with
                              its reasons and numbers, one JSON object a line, oldest first

Pointer files are replaced atomically (write a temporary file, fsync, ``os.replace``), so a worker
reading ``current`` during a promotion sees the old or the new version, never half a line.
Promotion loads the bundle first: a bundle whose features do not match the registry is refused.
Writers (promote, rollback, the gate) hold an exclusive ``flock`` on ``root/.lock``, so two
processes cannot interleave a read of ``current`` with a move of it (``locked``).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import jsonl
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
CHALLENGER, DECISIONS, LOCK = "challenger", "decisions.jsonl", ".lock"
_STATUS = {"discard": "discarded", "hold": "held", "promote": "retired", "rollback": "retired"}
_local = threading.RLock()
_depth: dict[str, int] = {}


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
    status: str = ""  # current, challenger, held, discarded, retired (served before) or ""


def bundles_dir(root: Path) -> Path:
    return Path(root) / BUNDLES


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold the registry's writer lock (re-entrant within a process)."""
    key = str(Path(root).resolve())
    with _local:
        if _depth.get(key):
            _depth[key] += 1
            try:
                yield
            finally:
                _depth[key] -= 1
            return
        Path(root).mkdir(parents=True, exist_ok=True)
        with (Path(root) / LOCK).open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed
            _depth[key] = 1
            try:
                yield
            finally:
                _depth[key] = 0


def record_decision(root: Path, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Append ``entry`` (with the time and the versions served after it) to the decisions log."""
    with locked(root):
        line = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            **entry,
            "current": current_version(root),
            "challenger": challenger_version(root),
        }
        text = jsonl.append_line(Path(root) / DECISIONS, line)
    written: dict[str, Any] = json.loads(text)  # as ``decisions`` will read it back
    return written


def decisions(root: Path) -> list[dict[str, Any]]:
    """The decisions log, oldest first (a torn last line after a crash is skipped)."""
    return jsonl.objects(read_lines(Path(root) / DECISIONS))


def challenger_version(root: Path) -> str | None:
    """The version the gate kept as challenger, or None."""
    lines = read_lines(Path(root) / CHALLENGER)
    return lines[0] if lines else None


def set_challenger(root: Path, version: str, entry: Mapping[str, Any]) -> None:
    """Keep ``version`` as the challenger and log ``entry`` (the gate's decision)."""
    with locked(root):
        load_bundle(bundle_path(root, version))
        write_atomic(Path(root) / CHALLENGER, version + "\n")
        record_decision(root, {**entry, "action": "challenger", "version": version})


def current_version(root: Path) -> str | None:
    """The served version, or None before the first promotion."""
    lines = read_lines(Path(root) / CURRENT)
    return lines[0] if lines else None


def history(root: Path) -> list[str]:
    """Previously served versions, oldest first."""
    return read_lines(Path(root) / HISTORY)


def _statuses(root: Path) -> dict[str, str]:
    found = {str(e.get("version")): _STATUS.get(str(e.get("action")), "") for e in decisions(root)}
    challenger = challenger_version(root)
    if challenger is not None:
        found[challenger] = "challenger"
    current = current_version(root)
    if current is not None:
        found[current] = "current"
    return found


def _info(path: Path, current: str | None, status: str = "") -> BundleInfo:
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
        status=status,
    )


def list_bundles(root: Path) -> list[BundleInfo]:
    """Every bundle under the root, oldest first (versions sort by creation time)."""
    base = bundles_dir(root)
    if not base.is_dir():
        return []
    current, statuses = current_version(root), _statuses(root)
    paths = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [_info(p, current, statuses.get(p.name, "")) for p in paths]


def bundle_path(root: Path, version: str) -> Path:
    """The directory of ``version``; RegistryError if there is no such bundle."""
    path = bundles_dir(root) / version
    if "/" in version or version.startswith(".") or not path.is_dir():
        known = ", ".join(b.version for b in list_bundles(root)[-5:]) or "none"
        raise RegistryError(f"unknown model version {version!r} (latest: {known})")
    return path


def promote(
    root: Path,
    version: str,
    *,
    reason: str = "promoted by hand",
    details: Mapping[str, Any] | None = None,
) -> ModelBundle:
    """Serve ``version``: check it loads and matches the features, move the pointer, log it."""
    with locked(root):
        bundle = load_bundle(bundle_path(root, version))
        previous = current_version(root)
        if previous == version:
            return bundle
        if previous is not None:
            write_atomic(Path(root) / HISTORY, "\n".join([*history(root), previous]) + "\n")
        write_atomic(Path(root) / CURRENT, version + "\n")
        if challenger_version(root) == version:  # it is the champion now: nothing to shadow
            (Path(root) / CHALLENGER).unlink(missing_ok=True)
        entry = {"action": "promote", "version": version, "previous": previous, "reason": reason}
        record_decision(root, {**entry, **(details or {})})
    return bundle


def rollback(root: Path, *, reason: str = "rolled back by hand") -> str:
    """Serve the previously served version again, log it; returns it."""
    with locked(root):
        past = history(root)
        if not past:
            raise RegistryError(
                "nothing to roll back to: no model was served before the current one"
            )
        target, previous = past[-1], current_version(root)
        load_bundle(bundle_path(root, target))
        write_atomic(Path(root) / CURRENT, target + "\n")
        write_atomic(Path(root) / HISTORY, "".join(f"{v}\n" for v in past[:-1]))
        entry = {"action": "rollback", "version": target, "previous": previous, "reason": reason}
        record_decision(root, entry)
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
    extra: Mapping[str, Any] | None = None,
) -> ModelBundle:
    """Save a trained model under the root; promote it if asked (None: only if none is current).

    ``extra`` goes into the bundle's metadata (e.g. where a retrained candidate's data came from).
    """
    bundle = save_bundle(bundles_dir(root), result, folds, extra=extra)
    if promote_it:
        promote(root, bundle.version, reason="promoted when trained (--promote)")
    elif promote_it is None and current_version(root) is None:
        promote(root, bundle.version, reason="first model of the registry")
    return bundle
