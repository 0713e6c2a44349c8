"""Every ``fraudscore`` command's ``--help`` shows an example, and every example parses.

The command tree is walked as the console script builds it, so a command added anywhere is
covered without being listed here. An example is a ``fraudscore ...`` invocation after
``Example:``/``Examples:`` in the command's help or epilog; it must name that command and parse
with the real CLI (command, option names, value types), so a renamed option cannot leave a
stale example behind.
"""

from __future__ import annotations

import re

import pytest

from tests.docs.cli import Path_, help_examples, help_of, leaves, parse_problem, raw_help

COMMANDS = leaves()


@pytest.mark.parametrize("path", [*COMMANDS, ()], ids=lambda p: " ".join(p) or "fraudscore")
def test_help_shows_an_example_that_parses(path: Path_) -> None:
    name = " ".join(("fraudscore", *path))
    assert re.search(r"\bExamples?:", help_of(path)), f"`{name} --help` shows no example"
    examples = help_examples(raw_help(path))
    assert examples, f"`{name} --help`: no `fraudscore ...` line after Example:"
    assert any(e.words[: len(path)] == path for e in examples), f"no example of `{name}` itself"
    problems = [p for e in examples if (p := parse_problem(e.words))]
    assert problems == [], f"`{name} --help` has examples that do not parse"


def test_every_command_is_covered() -> None:
    """Guards the tree walk: the commands the README lists are all found."""
    found = {" ".join(p) for p in COMMANDS}
    assert found >= {
        "worker",
        "demo",
        "validate",
        "services up",
        "simulate",
        "produce",
        "train",
        "models promote",
        "alerts tail",
        "label",
        "bench",
        "drift run",
        "schema check",
    }
