"""The serving model: the registry's current bundle, hot-reloaded when a new one is promoted.

``ModelSource`` is what the loop calls once per batch (``source()``). It looks at the registry's
``current`` pointer at most every ``check_every_s`` seconds; a new bundle is loaded and checked
(feature names and registry hash must match this code's feature registry) before it replaces the
old one, so a bad promotion is refused with one log line and the worker keeps serving.

The challenger (shadow-scored, recorded in the score records only) follows the registry's
``challenger`` pointer the same way, unless a version is pinned by setting: the promotion gate
can keep a new challenger, and a promotion retires it, without restarting a worker.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from core.messages import Reason
from models import registry
from models.bundle import ModelBundle, load_bundle
from models.errors import ModelsError
from models.reasons import top_reasons
from models.scorer import Backend, FloatArray, Scorer

log = logging.getLogger(__name__)

RETRY_REFUSED_S = 60.0  # a challenger that did not load is tried again this much later


class NoModel(Exception):
    """The registry has no current bundle."""


class ServingModel:
    """A bundle and its scorer, shaped as the pipeline's ``ScoringModel``."""

    def __init__(self, bundle: ModelBundle, backend: Backend = "lightgbm") -> None:
        self.bundle = bundle
        self.version = bundle.version
        self.threshold = float(bundle.threshold)
        self.block_threshold: float | None = bundle.block_threshold
        self._scorer = Scorer(bundle, backend=backend)

    def predict(self, x: FloatArray) -> FloatArray:
        return self._scorer.predict(x)

    def reasons(self, x: FloatArray, k: int) -> list[tuple[Reason, ...]]:
        if len(x) == 0:
            return []
        contrib = self._scorer.contributions(x)
        return [top_reasons(contrib[i], x[i], k) for i in range(len(x))]


class ModelSource:
    def __init__(
        self,
        model_dir: Path,
        *,
        backend: Backend = "lightgbm",
        check_every_s: float = 5.0,
        challenger: str | None = None,
    ) -> None:
        """``challenger`` pins a version to shadow-score (it must load); without it the
        registry's challenger is followed."""
        self._root = model_dir
        self._backend = backend
        self._check_every_s = check_every_s
        self._checked = 0.0
        self._model = self._load_current()
        self._pinned = challenger
        self.challenger = self._load(challenger) if challenger else None
        self._refused: tuple[str, float] | None = None  # a challenger refused, and when
        if challenger is None:
            self._follow_challenger()

    def _load_current(self) -> ServingModel:
        version = registry.current_version(self._root)
        if version is None:
            raise NoModel(f"no current model in {self._root}: run `fraudscore train` first")
        return self._load(version)

    def _load(self, version: str) -> ServingModel:
        return ServingModel(load_bundle(registry.bundle_path(self._root, version)), self._backend)

    def _load_checked(self, version: str) -> ServingModel:
        """Loaded and made to predict once, so a broken bundle fails here, not mid-batch."""
        model = self._load(version)
        model.predict(np.zeros((1, len(model.bundle.feature_names))))
        return model

    def __call__(self) -> ServingModel:
        now = time.monotonic()
        if now - self._checked >= self._check_every_s:
            self._checked = now
            self._maybe_reload()
            if self._pinned is None:
                self._follow_challenger()
        return self._model

    def shadow(self) -> ServingModel | None:
        """The challenger to shadow-score, as of the last ``source()`` call; never the champion
        itself (a pinned version that has been promoted)."""
        c = self.challenger
        return None if c is None or c.version == self._model.version else c

    def _maybe_reload(self) -> None:
        try:
            version = registry.current_version(self._root)
            if version is None or version == self._model.version:
                return
            model = self._load_checked(version)
        except (ModelsError, OSError, ValueError) as exc:
            log.error("refusing new model: %s; still serving %s", exc, self._model.version)
            return
        log.info("hot reload: %s -> %s", self._model.version, model.version)
        self._model = model

    def _follow_challenger(self) -> None:
        try:
            wanted = registry.challenger_version(self._root)
        except OSError as exc:  # the pointer replaced under us, a shared filesystem's hiccup
            log.warning("cannot read the challenger pointer (%s); will look again", exc)
            return
        if wanted == self._model.version:
            wanted = None  # promoted: the champion is not its own shadow
        current = self.challenger.version if self.challenger is not None else None
        if wanted == current:
            return
        if wanted is None:
            log.info("challenger %s retired", current)
            self.challenger = None
            return
        now = time.monotonic()
        refused, refused_at = self._refused or (None, 0.0)
        if refused == wanted and now - refused_at < RETRY_REFUSED_S:
            return
        try:
            model = self._load_checked(wanted)
        except (ModelsError, OSError, ValueError) as exc:
            self._refused = (wanted, now)
            log.error(
                "refusing challenger %s: %s (tried again in %.0f s)", wanted, exc, RETRY_REFUSED_S
            )
            return
        self._refused = None
        log.info("challenger: %s -> %s", current or "none", wanted)
        self.challenger = model
