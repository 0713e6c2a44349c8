"""A small simulated dataset and a model trained on it, shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models import registry
from models.protocol import fold_starts
from models.train import train_model
from simulator.config import SimulationConfig
from simulator.generate import generate

E2E_CONFIG = SimulationConfig(n_customers=150, n_terminals=300, n_days=42, seed=3)


@pytest.fixture(scope="session")
def e2e_dataset() -> pd.DataFrame:
    """Six weeks of traffic of 150 customers (~11k events, ~80 frauds), with labels."""
    return generate(E2E_CONFIG)


@pytest.fixture(scope="session")
def e2e_model_dir(e2e_dataset: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with one promoted bundle trained on the e2e dataset."""
    root = tmp_path_factory.mktemp("models")
    result = train_model(e2e_dataset, train_start=fold_starts(e2e_dataset, 1)[0], budget_per_day=3)
    registry.add_bundle(root, result, [result], promote_it=True)
    return root
