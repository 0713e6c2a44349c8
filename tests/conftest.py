"""Fixtures shared by every test tier.

Only integration and end-to-end tests request ``services`` (or the address fixtures built on it);
unit tests never start anything, and ``tests/unit/conftest.py`` makes sure they cannot connect.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from devstack import DevstackError, Services, resolve_services
from models import registry
from models.protocol import fold_starts
from models.train import train_model
from simulator.config import SimulationConfig
from simulator.generate import generate


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    """Real Kafka and Redis for the whole session: env addresses, testcontainers, or local."""
    try:
        found = resolve_services()
    except DevstackError as exc:
        pytest.fail(f"no real Kafka/Redis for integration tests: {exc}", pytrace=False)
    yield found
    found.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(services: Services) -> str:
    """bootstrap.servers of the session's real broker."""
    return services.kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    """URL of the session's real Redis."""
    return services.redis_url


@pytest.fixture
def unique_name() -> str:
    """A fresh topic / consumer group / key prefix, so tests never see each other's data."""
    # letters only: a digit run in a name would end up in event ids, where long digit runs are
    # refused as possible card numbers
    return "t-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))


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
