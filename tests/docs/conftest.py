"""A small simulated dataset and a model trained on it, for the documented commands that need
data or a model registry (``train``, ``models list|promote|rollback``)."""

from __future__ import annotations

import pandas as pd
import pytest

from models.protocol import fold_starts
from models.train import TrainResult, train_model
from simulator.config import SimulationConfig
from simulator.generate import generate

# 60 days: the least that `fraudscore train`'s default 4 prequential folds accept
DOCS_CONFIG = SimulationConfig(n_customers=100, n_terminals=200, n_days=60, seed=3)


@pytest.fixture(scope="session")
def docs_dataset() -> pd.DataFrame:
    return generate(DOCS_CONFIG)


@pytest.fixture(scope="session")
def docs_trained(docs_dataset: pd.DataFrame) -> TrainResult:
    return train_model(docs_dataset, train_start=fold_starts(docs_dataset, 1)[0], budget_per_day=3)
