"""What the decision core needs of a model bundle (``models.serving.ServingModel`` is one)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from core.messages import Reason

FloatArray = npt.NDArray[np.float64]


class ScoringModel(Protocol):
    version: str
    threshold: float
    block_threshold: float | None

    def predict(self, x: FloatArray) -> FloatArray: ...

    def reasons(self, x: FloatArray, k: int) -> list[tuple[Reason, ...]]: ...
