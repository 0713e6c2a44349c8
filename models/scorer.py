"""Batch scoring of a bundle, with LightGBM or the LLVM-compiled model (lleaves).

One ``predict`` call per batch: the cost of ``Booster.predict`` is per call, not per row (see
docs/performance.md: ~300 us overhead on a one-row DataFrame; lleaves ~5-8x faster than LightGBM
on batches, same output). lleaves compiles the model once per bundle and host CPU; the shared
object is cached in ``<bundle>/compiled/`` (or ``cache_dir`` if given / the bundle is read-only),
written under a temporary name and renamed, so concurrent workers never load half a file.

TreeSHAP contributions (``contributions``) cost 170-500x a plain predict: call them only for the
rows that raise an alert.
"""

from __future__ import annotations

import hashlib
import os
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from models.bundle import MODEL_FILE, ModelBundle
from models.errors import BackendError

Backend = Literal["lightgbm", "lleaves"]
BACKENDS: tuple[Backend, ...] = ("lightgbm", "lleaves")
FloatArray = npt.NDArray[np.float64]


class _Predictor(Protocol):
    def predict(self, data: FloatArray, n_jobs: int | None = ...) -> Any: ...


def _host_key() -> str:
    """CPU name + features: a compiled model only runs on the kind of CPU it was built for."""
    import llvmlite.binding as llvm  # type: ignore[import-untyped]  # lleaves dependency

    text = f"{llvm.get_host_cpu_name()}|{llvm.get_host_cpu_features().flatten()}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def compiled_path(bundle: ModelBundle, cache_dir: Path | None = None) -> Path:
    """Where the lleaves shared object of this bundle on this CPU is cached."""
    model_hash = hashlib.sha256((bundle.path / MODEL_FILE).read_bytes()).hexdigest()[:12]
    name = f"lleaves-{package_version('lleaves')}-{model_hash}-{_host_key()}.so"
    return (cache_dir or bundle.path / "compiled") / name


def compile_lleaves(bundle: ModelBundle, cache_dir: Path | None = None) -> _Predictor:
    """The bundle's model compiled by lleaves (loaded from the cache when present)."""
    try:
        import lleaves
    except ImportError as exc:
        raise BackendError(
            "backend 'lleaves' needs the 'fast' extra: "
            "pip install 'fraudscore[fast]' (lleaves, llvmlite<0.44)"
        ) from exc
    target = compiled_path(bundle, cache_dir)
    model = lleaves.Model(model_file=str(bundle.path / MODEL_FILE))
    try:
        if target.is_file():
            model.compile(cache=str(target))
            return model  # type: ignore[no-any-return]
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        model.compile(cache=str(tmp))
        os.replace(tmp, target)
    except OSError as exc:
        if cache_dir is None:  # read-only bundle directory: fall back to the user cache
            return compile_lleaves(bundle, Path.home() / ".cache" / "fraudscore" / "lleaves")
        raise BackendError(f"cannot compile or cache the model with lleaves: {exc}") from exc
    return model  # type: ignore[no-any-return]


class Scorer:
    """Probabilities of fraud for batches of feature rows (columns = bundle.feature_names)."""

    def __init__(
        self,
        bundle: ModelBundle,
        backend: Backend = "lightgbm",
        *,
        cache_dir: Path | None = None,
        n_jobs: int = 1,
    ) -> None:
        if backend not in BACKENDS:
            raise BackendError(f"unknown backend {backend!r}; use one of {list(BACKENDS)}")
        self.bundle = bundle
        self.backend: Backend = backend
        self.n_jobs = n_jobs
        self._compiled = compile_lleaves(bundle, cache_dir) if backend == "lleaves" else None

    @property
    def n_features(self) -> int:
        return len(self.bundle.feature_names)

    def _check(self, x: FloatArray) -> FloatArray:
        arr = np.ascontiguousarray(x, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise ValueError(f"expected a (n, {self.n_features}) matrix, got shape {arr.shape}")
        return arr

    def predict(self, x: FloatArray) -> FloatArray:
        """Fraud probability of each row, one call for the whole batch."""
        arr = self._check(x)
        if arr.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if self._compiled is not None:
            return np.asarray(self._compiled.predict(arr, n_jobs=self.n_jobs), dtype=np.float64)
        out = self.bundle.booster.predict(arr, num_threads=self.n_jobs)
        return np.asarray(out, dtype=np.float64)

    def contributions(self, x: FloatArray) -> FloatArray:
        """Per-feature TreeSHAP contributions to the log-odds, shape (n, n_features).

        The bias column LightGBM appends is dropped: ``sum(row) + bias = raw score``.
        """
        arr = self._check(x)
        if arr.shape[0] == 0:
            return np.empty((0, self.n_features), dtype=np.float64)
        out = self.bundle.booster.predict(arr, pred_contrib=True, num_threads=self.n_jobs)
        return np.asarray(out, dtype=np.float64)[:, : self.n_features]
