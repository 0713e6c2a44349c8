"""What the documented commands that cannot run inside the suite depend on, checked statically.

``make test`` runs this suite (it cannot run inside it) and ``make demo`` takes minutes on shared
default topics, so their recipes are checked with ``make -n``: make parses the Makefile and
prints what it would run, without running it.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.docs.extract import ROOT


def dry_run(target: str) -> list[str]:
    # Under `make test` this runs inside make: drop the parent's variables, or the child prints
    # "make[1]: Entering directory" lines around the recipe.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.timeout(120)
def test_make_demo_and_test_targets() -> None:
    demo = dry_run("demo")
    assert demo[-1] == ".venv/bin/fraudscore demo"
    test = dry_run("test")
    for step in (
        ".venv/bin/ruff check .",
        ".venv/bin/ruff format --check .",
        ".venv/bin/mypy",
        ".venv/bin/fraudscore services up",
    ):
        assert step in test, f"`make test` no longer runs {step}"
    assert test[-1].startswith(".venv/bin/pytest")
    assert test.index(".venv/bin/fraudscore services up") < len(test) - 1


def test_bootstrap_script_installs_kcat_and_parses() -> None:
    script = ROOT / "scripts" / "bootstrap-system.sh"
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "missing+=(kcat)" in script.read_text(encoding="utf-8")
