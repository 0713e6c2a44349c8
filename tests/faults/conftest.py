"""Fixtures of the fault-injection suite: scenarios, own Redis servers, the stream, the figures.

The e2e tier's dataset and model fixtures are imported here, so both tiers score with the same
bundle. Every test reports one line of figures (events, faults, missing, duplicates, time): it
is printed, attached to the junit report as a test-suite property, and repeated in a "fault
figures" section at the end of the terminal summary, so it shows with or without ``-s``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import e2e_dataset, e2e_model_dir
from tests.faults.harness import FRAUDSCORE, RedisServer, Scenario, cache_dir, log_dir
from tests.faults.streams import Stream

__all__ = ["e2e_dataset", "e2e_model_dir"]

FIGURES: list[str] = []


@pytest.fixture(scope="session")
def pycache(request: pytest.FixtureRequest) -> Path:
    """A bytecode cache for the worker subprocesses, outside the source tree, warmed once."""
    path = cache_dir(request.config, "faults-pycache")
    python = FRAUDSCORE.parent / "python"
    code = "import cli.main, worker.run, worker.loop, worker.commit, models.scorer"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(path)
    if source := os.environ.get("FAULTS_WORKER_SOURCE"):  # see tests/faults/harness.py
        env["PYTHONPATH"] = source
    subprocess.run([str(python), "-c", code], env=env, check=True, cwd=path)  # not the repo:
    # `python -c` puts its cwd first on sys.path, ahead of PYTHONPATH
    return path


@pytest.fixture(scope="session")
def fault_stream() -> Stream:
    """~104k transactions and their labels, seeded; encoded once for the session."""
    return Stream.generate()


@pytest.fixture
def scenario(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_model_dir: Path,
    pycache: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Scenario]]:
    """Make this test's scenario (topics created); its worker processes die at teardown."""
    made: list[Scenario] = []
    logs = log_dir(request, request.node.name)

    def make(
        partitions: int = 4,
        *,
        tx_config: dict[str, str] | None = None,
        kafka: str | None = None,
        redis: str | None = None,
        **settings: object,
    ) -> Scenario:
        sc = Scenario(
            kafka or kafka_bootstrap,
            redis or redis_url,
            unique_name if not made else f"{unique_name}{'xyzw'[len(made) - 1]}",
            e2e_model_dir,
            logs,
            pycache,
            dict(settings),
        )
        sc.create_topics(partitions, tx_config)
        made.append(sc)
        return sc

    yield make
    for sc in made:
        sc.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, on a free port (the shared one is never frozen)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.close()


@pytest.fixture
def figures(
    request: pytest.FixtureRequest, record_testsuite_property: Callable[[str, object], None]
) -> Callable[..., None]:
    """``figures(events=..., kills=..., missing=..., duplicates=...)``: report one line.

    In junit XML it is a test-suite property named after the test (per-test properties are not
    valid in pytest's default xunit2 format).
    """
    t0 = time.monotonic()

    def report(**values: Any) -> None:
        values.setdefault("elapsed_s", round(time.monotonic() - t0, 1))
        figures_text = " ".join(f"{k}={v}" for k, v in values.items())
        record_testsuite_property(f"faults.{request.node.name}", figures_text)
        line = f"{request.node.name}: {figures_text}"
        print(f"\nFAULT FIGURES {line}")
        FIGURES.append(line)

    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("fault figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
