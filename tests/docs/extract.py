"""The commands in the project's markdown, and the HTML comments that say how each is tested.

Pure text handling (no subprocess, no socket), so the rules are easy to read and to test:

1. A fenced block whose info string is ``bash``, ``sh``, ``shell`` or ``console`` is a shell
   block. Each command is one logical line: backslash continuations and lines ending in a pipe
   are joined, a trailing ``# comment`` is dropped. In a ``console`` block only ``$ `` lines are
   commands, and the lines after one are its expected output.
2. ``export NAME=...`` and ``cd DIR`` lines set the scene; they are not commands.
3. Annotations are single-line HTML comments directly above a block (blank lines and other
   annotations may sit between); rendered markdown does not show them::

       <!-- tested-by: tests/e2e/test_pipeline.py::test_name [more node ids] -->
       <!-- tested-by(fraudscore services down): tests/integration/test_devstack.py::test_x -->
       <!-- static: tests/unit/test_compose.py::test_services_present -->

   ``tested-by`` names tests that run the command (or its code path with bounded inputs);
   ``static`` names tests that check what a command that cannot run here depends on (docker,
   kubectl, a whole ``make test``). A scope in parentheses limits an annotation to commands that
   start with it; an unscoped one covers the block's other commands.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGS = frozenset({"bash", "sh", "shell", "console"})
Kind = Literal["tested-by", "static"]

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[\w+-]*)")
_ANNOTATION = re.compile(
    r"^\s*<!--\s*(?P<kind>tested-by|static)(?:\((?P<scope>[^)]*)\))?\s*:\s*(?P<ids>.*?)\s*-->\s*$"
)
_ANY_ANNOTATION = re.compile(r"^\s*<!--\s*(tested|static)\b")  # typos too
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SCENE = re.compile(r"^(export|cd)\s")


@dataclass(frozen=True)
class Annotation:
    kind: Kind
    scope: str | None
    nodeids: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # the opening fence, 1-based
    lang: str
    body: tuple[str, ...]
    annotations: tuple[Annotation, ...] = ()

    @property
    def first_body_line(self) -> int:
        return self.line + 1


@dataclass(frozen=True)
class Command:
    block: Block
    line: int
    text: str
    expected_output: tuple[str, ...] | None = None
    words: tuple[str, ...] = field(default=(), compare=False)

    @property
    def where(self) -> str:
        return f"{rel(self.block.path)}:{self.line}"

    @property
    def program(self) -> str:
        """The first word after any ``NAME=value`` assignments."""
        return next((w for w in self.words if not _ASSIGNMENT.match(w)), "")

    def annotation(self) -> Annotation | None:
        """The annotation covering this command: a matching scope first, else an unscoped one."""
        scoped = [a for a in self.block.annotations if a.scope and self.bare.startswith(a.scope)]
        if scoped:
            return max(scoped, key=lambda a: len(a.scope or ""))
        return next((a for a in self.block.annotations if a.scope is None), None)

    @property
    def bare(self) -> str:
        """The command without leading ``NAME=value`` assignments."""
        words = list(self.words)
        while words and _ASSIGNMENT.match(words[0]):
            words.pop(0)
        return shlex.join(words) if words else ""


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def doc_files(root: Path = ROOT) -> list[Path]:
    """The documents users read: the README and every page under docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def blocks(path: Path, text: str | None = None) -> list[Block]:
    """Every fenced block of a markdown file, with the annotations directly above it."""
    lines = (text if text is not None else path.read_text(encoding="utf-8")).splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        close = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        body = tuple(
            line[indent:] if line[:indent].isspace() else line for line in lines[i + 1 : j]
        )
        found.append(Block(path, i + 1, m["info"].lower(), body, _annotations_above(lines, i)))
        i = j + 1
    return found


def _annotations_above(lines: Sequence[str], fence_index: int) -> tuple[Annotation, ...]:
    found: list[Annotation] = []
    k = fence_index - 1
    while k >= 0:
        line = lines[k]
        m = _ANNOTATION.match(line)
        if m:
            scope = m["scope"].strip() if m["scope"] is not None else None
            kind: Kind = "static" if m["kind"] == "static" else "tested-by"
            found.append(Annotation(kind, scope, tuple(m["ids"].split()), k + 1))
        elif line.strip():
            break
        k -= 1
    return tuple(reversed(found))


def stray_annotations(path: Path, text: str | None = None) -> list[str]:
    """Annotation comments that do not sit above a shell block, or that do not parse."""
    text = text if text is not None else path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found = blocks(path, text)
    attached = {a.line for b in found if b.lang in SHELL_LANGS for a in b.annotations}
    quoted = {n for b in found for n in range(b.line, b.line + len(b.body) + 2)}  # shown as text
    problems = []
    for n, line in enumerate(lines, 1):
        if _ANY_ANNOTATION.search(line) and n not in attached and n not in quoted:
            why = "does not parse" if not _ANNOTATION.match(line) else "is not above a shell block"
            problems.append(f"{rel(path)}:{n}: annotation {why}: {line.strip()}")
    return problems


def commands(block: Block) -> list[Command]:
    """The commands of one shell block (see the module docstring for the rules)."""
    if block.lang not in SHELL_LANGS:
        return []
    console = block.lang == "console"
    found: list[Command] = []
    pending: list[str] = []
    start = 0
    output: list[str] | None = None

    def finish() -> None:
        nonlocal output
        if found and output is not None:
            last = found[-1]
            found[-1] = Command(last.block, last.line, last.text, tuple(output), last.words)
        output = None

    for offset, raw in enumerate(block.body):
        n = block.first_body_line + offset
        line = raw.rstrip()
        if console and not pending:
            if not line.startswith("$ "):
                if output is not None:
                    output.append(line)
                continue
            finish()
            line = line[2:]
        if not pending:
            start = n
        pending.append(line)
        if line.endswith("\\"):
            pending[-1] = line[:-1]
            continue
        text = strip_comment(" ".join(p.strip() for p in pending)).strip()
        if text.endswith("|"):
            continue
        pending = []
        if not text or _SCENE.match(text):
            continue
        found.append(Command(block, start, text, None, tuple(split_words(text))))
        if console:
            output = []
    finish()
    return found


def strip_comment(text: str) -> str:
    """Drop a trailing ``# comment`` (a ``#`` outside quotes that starts a word)."""
    quote: str | None = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i].rstrip()
    return text


def split_words(text: str) -> list[str]:
    """Shell words; an unparsable line gives the plain whitespace split (checked elsewhere)."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def segments(text: str) -> list[list[str]]:
    """The simple commands of a pipeline or list (``|``, ``&&``, ``;``), redirections dropped."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    out: list[list[str]] = [[]]
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
            continue
        if token in ("|", "||", "&&", ";", "&"):
            out.append([])
        elif token in (">", ">>", "<", "2>", "&>"):
            skip_next = True
        else:
            out[-1].append(token)
    return [s for s in out if s]


def all_commands(files: Sequence[Path] | None = None) -> list[Command]:
    return [c for f in files or doc_files() for b in blocks(f) for c in commands(b)]


def code_blocks(lang: str, files: Sequence[Path] | None = None) -> list[Block]:
    return [b for f in files or doc_files() for b in blocks(f) if b.lang == lang]


def nodeid_problem(nodeid: str, root: Path = ROOT) -> str | None:
    """Why a pytest node id does not name a test in the tree, or None if it does."""
    path, sep, rest = nodeid.partition("::")
    if not sep or not rest:
        return f"{nodeid}: not a node id (tests/...py::test_name)"
    file = root / path
    if not file.is_file():
        return f"{nodeid}: no file {path}"
    names = [re.sub(r"\[.*\]$", "", part) for part in rest.split("::")]
    tree = ast.parse(file.read_text(encoding="utf-8"))
    scope: Sequence[ast.stmt] = tree.body
    for depth, name in enumerate(names):
        match = next(
            (
                node
                for node in scope
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.name == name
            ),
            None,
        )
        if match is None:
            return f"{nodeid}: no {'test' if depth == len(names) - 1 else 'class'} {name} in {path}"
        scope = match.body
    if not names[-1].startswith("test"):
        return f"{nodeid}: {names[-1]} is not a test function"
    return None


def annotation_problems(files: Sequence[Path] | None = None) -> Iterator[str]:
    """Stray or stale annotations: unattached comments, scopes that match no command."""
    for path in files or doc_files():
        yield from stray_annotations(path)
        for block in blocks(path):
            cmds = commands(block)
            for a in block.annotations:
                if a.scope and not any(c.bare.startswith(a.scope) for c in cmds):
                    yield f"{rel(path)}:{a.line}: scope {a.scope!r} matches no command below it"
                if not a.nodeids:
                    yield f"{rel(path)}:{a.line}: annotation names no test"
