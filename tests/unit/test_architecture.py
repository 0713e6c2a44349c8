"""The package layering, read from the source with ``ast``: who may import whom, no loops, no
overlong files.

Every import counts, wherever it is written (module top, inside a function, under
``TYPE_CHECKING``): a lazy import still ties the packages together, it only hides it from
import time. Relative imports are resolved against the importing module.
"""

from __future__ import annotations

import ast
import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = tuple(
    p.rstrip("*")
    for p in tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["packages"]["find"]["include"]
)
MAX_LINES = 350

# The intended layering, one layer per line from the bottom: the kernel (core) imports no project
# package, nothing but worker and cli imports worker, and the map itself has no loop.
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "devstack": frozenset({"core"}),
    "features": frozenset({"core"}),
    "simulator": frozenset({"core"}),
    "analyst": frozenset({"core"}),
    "models": frozenset({"core", "features"}),
    "decision": frozenset({"core", "features", "models"}),
    "monitoring": frozenset({"core", "features", "models"}),
    "worker": frozenset({"core", "decision", "features", "models"}),
    "benchmarks": frozenset(
        {"core", "decision", "devstack", "features", "models", "monitoring", "simulator"}
    ),
    "cli": frozenset(PACKAGES) - {"cli"},
}


@dataclass(frozen=True)
class Import:
    """One import statement of one file, with the module it names resolved to an absolute one."""

    file: Path
    line: int
    statement: str
    source: str
    target: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}: {self.statement}"


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """Dotted name of a source file, and whether it is a package (``__init__.py``)."""
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imports_in(path: Path, root: Path) -> Iterator[Import]:
    """Every import of ``path``, at any depth of its syntax tree."""
    module, is_package = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(root)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            targets = [_resolve_from(node, module, is_package)]
        else:
            continue
        for target in targets:
            yield Import(rel, node.lineno, ast.unparse(node), module, target)


def _resolve_from(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` names; ``from ..x import y`` in a.b.c is a.x."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def project_imports(root: Path, packages: Iterable[str]) -> list[Import]:
    """Imports of one project package by another, over every .py file of the packages."""
    names = set(packages)
    found: list[Import] = []
    for package in sorted(names):
        for path in sorted((root / package).rglob("*.py")):
            for imp in imports_in(path, root):
                target = imp.target.split(".")[0]
                if target in names:
                    found.append(imp)
    return found


def package_graph(imports: Iterable[Import]) -> dict[str, dict[str, list[Import]]]:
    """package -> imported package -> the imports that make the edge (self-imports dropped)."""
    graph: dict[str, dict[str, list[Import]]] = {}
    for imp in imports:
        source, target = imp.source.split(".")[0], imp.target.split(".")[0]
        if source != target:
            graph.setdefault(source, {}).setdefault(target, []).append(imp)
    return graph


def cyclic_edges(graph: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """Edges whose two ends reach each other, i.e. the edges that lie on some loop."""
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        reach[start] = seen
    return sorted(
        (a, b) for a, targets in graph.items() for b in targets if a in reach.get(b, set())
    )


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, list[Import]]]:
    return package_graph(project_imports(ROOT, PACKAGES))


def test_allowed_map_is_the_pyproject_packages_and_has_no_loop() -> None:
    assert set(ALLOWED) == set(PACKAGES), "ALLOWED must name exactly pyproject's packages"
    assert cyclic_edges(ALLOWED) == [], "the intended layering itself has a loop"


def test_packages_import_only_the_layers_below(graph: dict[str, dict[str, list[Import]]]) -> None:
    offending = [
        f"{imp.where}  ({source} may not import {target})"
        for source, targets in sorted(graph.items())
        for target, imps in sorted(targets.items())
        if target not in ALLOWED[source]
        for imp in imps
    ]
    assert not offending, "imports against the layering:\n" + "\n".join(offending)


def test_packages_import_each_other_without_loops(
    graph: dict[str, dict[str, list[Import]]],
) -> None:
    edges = cyclic_edges(graph)
    lines = [f"{a} -> {b}, e.g. {graph[a][b][0].where}" for a, b in edges]
    assert not edges, "package import cycle:\n" + "\n".join(lines)


def _python_files(root: Path) -> Iterator[Path]:
    """Every .py file of the repository, without the virtualenv, run data and git internals."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not (here == root and d == "var")
        )
        yield from (here / f for f in sorted(files) if f.endswith(".py"))


def test_no_python_file_is_longer_than_the_limit() -> None:
    lengths = {p.relative_to(ROOT): len(p.read_bytes().splitlines()) for p in _python_files(ROOT)}
    assert len(lengths) > 100, "the walk found almost no source files"
    long = [f"{path}: {n} lines" for path, n in sorted(lengths.items()) if n > MAX_LINES]
    assert not long, f"split these files below {MAX_LINES} lines by topic:\n" + "\n".join(long)


def test_graph_sees_function_level_type_checking_and_relative_imports(tmp_path: Path) -> None:
    files = {
        "a/__init__.py": "from .mod import f\n",
        "a/mod.py": "def f() -> None:\n    import b.x\n",
        "a/sub/__init__.py": "",
        "a/sub/deep.py": (
            "from typing import TYPE_CHECKING\n"
            "from ..mod import f\n"
            "from . import sibling\n"
            "if TYPE_CHECKING:\n"
            "    from c import y\n"
        ),
        "b/__init__.py": "",
        "b/x.py": "import os\n",
        "c/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")

    imports = project_imports(tmp_path, ["a", "b", "c"])

    resolved = {(imp.source, imp.target) for imp in imports}
    assert resolved == {
        ("a", "a.mod"),
        ("a.mod", "b.x"),
        ("a.sub.deep", "a.mod"),
        ("a.sub.deep", "a.sub"),
        ("a.sub.deep", "c"),
    }
    graph = package_graph(imports)
    assert {a: set(t) for a, t in graph.items()} == {"a": {"b", "c"}}
    assert cyclic_edges({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
    ]
