"""The ``fraudscore`` command tree as the console script builds it, for checks and in-process runs.

A documented command is run in-process through typer's ``CliRunner`` on the same ``app`` the
``fraudscore`` console script runs (``pyproject.toml``: ``fraudscore = "cli.main:main"``): every
line of the command's code runs, without paying the ~6 s import of a new interpreter per command
on a 2-core machine. Settings are read from the environment given to each run (the cached
``get_settings`` is cleared around it), never from the test process's own ``FRAUDSCORE_*``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import typer
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from cli.main import app
from core.settings import get_settings
from tests.docs.extract import split_words

Path_ = tuple[str, ...]
_EXAMPLE = re.compile(r"\bExamples?:")
# where one example ends inside a help text: an example separator (`  |  `), a shell list or
# redirection, prose in parentheses or after a backtick, the end of the line
_EXAMPLE_END = re.compile(r"[ \t]+\|[ \t]+|;|[ \t]+>[ \t]|[ \t]+\(|\)|`|[ \t]*$", re.MULTILINE)


@cache
def root() -> TyperGroup:
    command = typer.main.get_command(app)
    assert isinstance(command, TyperGroup)
    return command


def walk(group: TyperGroup | None = None, path: Path_ = ()) -> Iterator[tuple[Path_, object]]:
    """Every command under the group, groups included, depth first."""
    group = group or root()
    yield path, group
    for name, sub in group.commands.items():
        if isinstance(sub, TyperGroup):
            yield from walk(sub, (*path, name))
        else:
            yield (*path, name), sub


def leaves() -> list[Path_]:
    return [path for path, cmd in walk() if not isinstance(cmd, TyperGroup)]


def resolve(words: Sequence[str]) -> tuple[Path_, object, list[str]]:
    """Split ``fraudscore a b --opt x`` into the command path, the command, and its arguments."""
    command: object = root()
    path: list[str] = []
    rest = list(words)
    while isinstance(command, TyperGroup) and rest and rest[0] in command.commands:
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    return tuple(path), command, rest


def parse_problem(words: Sequence[str]) -> str | None:
    """Why ``fraudscore WORDS`` would not parse (unknown command or option, bad value), or None.

    Parsing only: click's ``make_context`` checks names, arity and types without calling the
    command.
    """
    path, command, rest = resolve(words)
    if isinstance(command, TyperGroup):
        return f"`fraudscore {' '.join(words)}`: {' '.join(path) or 'fraudscore'} needs a command"
    if "--help" in rest:
        return None
    try:
        command.make_context(" ".join(path), list(rest))  # type: ignore[attr-defined]
    except Exception as exc:  # click's UsageError family; its message is what a user would see
        message = exc.format_message() if hasattr(exc, "format_message") else repr(exc)
        return f"`fraudscore {' '.join(words)}`: {message}"
    return None


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """An environment for one run: the caller's values, and no inherited ``FRAUDSCORE_*``."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FRAUDSCORE_")}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    env.update(extra or {})
    return env


def invoke(args: Sequence[str], env: Mapping[str, str] | None = None) -> Result:
    """Run ``fraudscore ARGS`` in-process with exactly this environment."""
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env=clean_env(env), terminal_width=200)
    finally:
        get_settings.cache_clear()


@dataclass(frozen=True)
class Example:
    text: str
    words: tuple[str, ...]


def help_examples(help_text: str) -> list[Example]:
    """The ``fraudscore ...`` invocations written after ``Example:``/``Examples:`` in a help."""
    found: list[Example] = []
    for m in _EXAMPLE.finditer(help_text):
        tail = help_text[m.end() :]
        for start in re.finditer(r"(?<![\w/-])fraudscore\s", tail):
            end = _EXAMPLE_END.search(tail, start.start())
            text = tail[start.start() : end.start() if end else None].strip()
            found.append(Example(text, tuple(split_words(text)[1:])))
    return found


def help_of(path: Path_) -> str:
    """The rendered ``--help`` of a command (rich boxes and all), 200 columns wide."""
    result = invoke([*path, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def raw_help(path: Path_) -> str:
    """A command's docstring help and epilog as written (no wrapping, no boxes)."""
    _, command, _ = resolve(path)
    return "\n".join(
        t for t in (getattr(command, "help", None), getattr(command, "epilog", None)) if t
    )
