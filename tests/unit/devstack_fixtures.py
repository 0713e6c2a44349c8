"""Fixtures and helpers shared by the ``test_devstack_*.py`` files.

Import the fixtures by name into each file (``clean_env`` is autouse: importing it is enough).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import stack
from devstack.settings import DevstackSettings

ENV_NAMES = (
    "FRAUDSCORE_LOCAL_KAFKA_PORT",
    "FRAUDSCORE_LOCAL_KAFKA_CONTROLLER_PORT",
    "FRAUDSCORE_LOCAL_REDIS_PORT",
    "FRAUDSCORE_SERVICES_DIR",
    "FRAUDSCORE_CACHE_DIR",
    "XDG_CACHE_HOME",
    "FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS",
    "FRAUDSCORE_REDIS_URL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The developer's own FRAUDSCORE_* variables (or .env file) must not change these tests."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(name="settings")
def devstack_settings(tmp_path: Path) -> DevstackSettings:
    return DevstackSettings(
        services_dir=tmp_path / "services",
        cache_dir=tmp_path / "cache",
        kafka_port=31092,
        kafka_controller_port=31093,
        redis_port=31379,
    )


def running_stack(settings: DevstackSettings) -> stack.StackStatus:
    """What ``stack.up``/``stack.status`` report when both local services run."""

    def svc(name: str, address: str) -> stack.ServiceStatus:
        return stack.ServiceStatus(name, True, 1, address)

    return stack.StackStatus(
        settings.state_dir(),
        svc("kafka", settings.kafka_bootstrap),
        svc("redis", settings.local_redis_url),
    )
