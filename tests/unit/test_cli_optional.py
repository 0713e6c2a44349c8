"""``fraudscore`` without devstack or benchmarks, as in the service image: it still builds, and
only the commands those packages back are missing."""

from __future__ import annotations

import importlib
import sys

import pytest
import typer
from typer.testing import CliRunner

import cli
from cli import main
from models.cli import models_app

BACKED = {"devstack": {"services", "demo"}, "benchmarks": {"bench"}}


def _commands(app: typer.Typer) -> set[str]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return set(group.commands)


def _app_without(monkeypatch: pytest.MonkeyPatch, absent: set[str]) -> typer.Typer:
    """``cli.main`` imported anew while the ``absent`` packages cannot be found.

    The loaded ``cli.main`` comes back afterwards, and so does ``models_app``, to which every
    import of ``cli.main`` adds ``models compare``.
    """
    for name in [*sys.modules, *absent]:
        if name.split(".")[0] in absent:
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "cli.main")
    monkeypatch.setattr(cli, "main", main)
    monkeypatch.setattr(models_app, "registered_commands", list(models_app.registered_commands))
    fresh = importlib.import_module("cli.main")
    assert fresh is not main
    assert not any(fresh.installed(package) for package in absent)
    app: typer.Typer = fresh.app
    return app


def test_everything_is_mounted_where_everything_is_installed() -> None:
    assert set().union(*BACKED.values()) <= _commands(main.app)


@pytest.mark.parametrize("absent", [{"devstack"}, {"benchmarks"}, {"devstack", "benchmarks"}])
def test_the_cli_builds_without_the_package_and_keeps_the_other_commands(
    monkeypatch: pytest.MonkeyPatch, absent: set[str]
) -> None:
    full = _commands(main.app)
    app = _app_without(monkeypatch, absent)
    missing = set().union(*(BACKED[package] for package in absent))
    assert _commands(app) == full - missing
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    assert "worker" in result.output
    assert runner.invoke(app, ["worker", "--help"]).exit_code == 0
    gone = runner.invoke(app, [sorted(missing)[0], "--help"])
    assert gone.exit_code != 0
