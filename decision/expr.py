"""Rule expressions: a small, typed grammar compiled once per policy, evaluated per batch.

An expression reads like a condition an analyst would write::

    amount > 2000 and customer_tx_count_1d >= 3
    country in ("NG", "RU") and channel == "ecommerce"
    amount_to_customer_avg_7d > 5 or score >= 0.9

The grammar is a subset of Python's expression syntax, parsed with the standard library's
``ast`` (exact positions in errors) and never executed: ``compile_expr`` walks the tree, refuses
every node outside the subset, type-checks it against the fields an expression may name
(``Fields``), and builds a function over whole columns (numpy), so a 500-event batch costs one
vector operation per node instead of 500 interpreted evaluations.

Accepted: numbers, strings, ``True``/``False``; field names; ``+ - * /`` and unary ``-`` on
numbers; comparisons (chains too) of numbers with numbers and strings with strings (``==`` and
``!=`` only); ``in`` / ``not in`` a tuple or list of constants; ``and``, ``or``, ``not`` on
conditions; ``abs``, ``min`` and ``max`` of numbers.

At run time a row whose arithmetic is undefined (a division by zero, an overflow) *fails* the
rule instead of matching or not matching it: ``Evaluated.failed`` says which, so the caller can
decide those events without the rule and count the failure.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Type = Literal["number", "bool", "string"]
Fields = Mapping[str, Type]  # what an expression may name, with its type
Columns = Mapping[str, npt.NDArray[Any]]  # one array per field, one row per event
BoolArray = npt.NDArray[np.bool_]

_FUNCTIONS = ("abs", "min", "max")
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


class ExprError(ValueError):
    """An expression that does not parse or type-check: where, and what was expected."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"position {position}: {message}")
        self.message, self.position = message, position


@dataclass(frozen=True, slots=True)
class Evaluated:
    """Per row: ``hit`` where the condition holds, ``failed`` where it could not be decided
    (never both)."""

    hit: BoolArray
    failed: BoolArray


@dataclass(frozen=True, slots=True)
class _Node:
    type: Type
    # columns -> (values, rows whose value is undefined)
    run: Callable[[Columns, int], tuple[npt.NDArray[Any], BoolArray]]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A checked expression; ``names`` are the fields it reads."""

    source: str
    names: frozenset[str]
    _root: _Node

    def evaluate(self, columns: Columns, rows: int) -> Evaluated:
        values, bad = self._root.run(columns, rows)
        hit = np.asarray(values, dtype=bool) & ~bad
        return Evaluated(hit, bad)


def compile_expr(source: str, fields: Fields) -> Compiled:
    """Parse and check ``source`` against ``fields``; raise ``ExprError`` with the position."""
    text = source.strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        if not exc.offset:  # the parser ran out of input
            raise ExprError("does not parse: it ends too early", len(text) + 1) from None
        raise ExprError(f"does not parse: {exc.msg}", exc.offset) from None
    builder = _Builder(fields)
    root = builder.build(tree.body)
    if root.type != "bool":
        raise ExprError(f"expected a condition (true or false), got a {root.type}", 1)
    return Compiled(source, frozenset(builder.names), root)


def _pos(node: ast.AST) -> int:
    return int(getattr(node, "col_offset", 0)) + 1


def _none(rows: int) -> BoolArray:
    return np.zeros(rows, dtype=bool)


class _Builder:
    def __init__(self, fields: Fields) -> None:
        self.fields = fields
        self.names: set[str] = set()

    def build(self, node: ast.expr) -> _Node:
        match node:
            case ast.Constant(value=bool() as v):
                return _Node("bool", lambda c, n: (np.full(n, v), _none(n)))
            case ast.Constant(value=int() | float() as v):
                return _Node("number", lambda c, n: (np.full(n, float(v)), _none(n)))
            case ast.Constant(value=str() as v):
                return _Node("string", lambda c, n: (np.full(n, v, dtype=object), _none(n)))
            case ast.Name(id=name):
                return self._field(name, node)
            case ast.BoolOp(op=op, values=values):
                return self._bool_op(isinstance(op, ast.And), [self.build(v) for v in values], node)
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                inner = self._expect(self.build(operand), "bool", operand, "a condition after not")
                return _Node("bool", lambda c, n: _not(inner.run(c, n)))
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                inner = self._expect(self.build(operand), "number", operand, "a number after -")
                return _Node("number", lambda c, n: _neg(inner.run(c, n)))
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _ARITH:
                a = self._expect(self.build(left), "number", left, "a number")
                b = self._expect(self.build(right), "number", right, "a number")
                return _Node("number", _arith(_ARITH[type(op)], a, b))
            case ast.Compare(left=left, ops=ops, comparators=rights):
                return self._compare(left, ops, rights)
            case ast.Call(func=ast.Name(id=fn), args=args, keywords=[]) if fn in _FUNCTIONS:
                return self._call(fn, args, node)
            case ast.Call():
                allowed = ", ".join(_FUNCTIONS)
                raise ExprError(f"only the functions {allowed} may be called", _pos(node))
        raise ExprError(
            f"{type(node).__name__} is not part of the rule language; expected a field, a "
            "number, a string, a comparison, and/or/not, + - * /, or abs/min/max",
            _pos(node),
        )

    def _field(self, name: str, node: ast.expr) -> _Node:
        if name not in self.fields:
            close = difflib.get_close_matches(name, list(self.fields), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise ExprError(f"unknown field {name!r}{hint}", _pos(node))
        self.names.add(name)
        kind = self.fields[name]

        def run(c: Columns, n: int) -> tuple[npt.NDArray[Any], BoolArray]:
            values = c[name]
            if kind == "number":
                return values, ~np.isfinite(values)
            return values, _none(n)

        return _Node(kind, run)

    def _expect(self, built: _Node, kind: Type, node: ast.expr, what: str) -> _Node:
        if built.type != kind:
            raise ExprError(f"expected {what}, got a {built.type}", _pos(node))
        return built

    def _bool_op(self, conj: bool, parts: list[_Node], node: ast.BoolOp) -> _Node:
        for part, sub in zip(parts, node.values, strict=True):
            self._expect(part, "bool", sub, "a condition on each side of and/or")

        def run(c: Columns, n: int) -> tuple[npt.NDArray[Any], BoolArray]:
            # Three-valued, as a reader expects: one operand that is surely false decides an
            # ``and`` (surely true decides an ``or``) even where another one failed.
            decided, bad = _none(n), _none(n)
            for part in parts:
                v, b = part.run(c, n)
                v = v.astype(bool)
                decided |= (~v if conj else v) & ~b
                bad |= b
            bad &= ~decided
            return (~decided & ~bad) if conj else decided, bad

        return _Node("bool", run)

    def _compare(self, left: ast.expr, ops: list[ast.cmpop], rights: list[ast.expr]) -> _Node:
        if len(ops) > 1 and any(isinstance(op, ast.In | ast.NotIn) for op in ops):
            raise ExprError("in / not in cannot be chained; join conditions with and", _pos(left))
        steps: list[Callable[[Columns, int], tuple[npt.NDArray[Any], BoolArray]]] = []
        lhs = self.build(left)
        for op, right in zip(ops, rights, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                steps.append(self._membership(lhs, right, isinstance(op, ast.NotIn)))
            elif type(op) in _COMPARE:
                rhs = self.build(right)
                steps.append(self._comparison(lhs, rhs, op, right))
                lhs = rhs
            else:
                raise ExprError("'is' is not part of the rule language; use == or !=", _pos(right))

        def run(c: Columns, n: int) -> tuple[npt.NDArray[Any], BoolArray]:
            values, bad = np.ones(n, dtype=bool), _none(n)
            for step in steps:
                v, b = step(c, n)
                values &= v
                bad |= b
            return values, bad

        return _Node("bool", run)

    def _comparison(self, a: _Node, b: _Node, op: ast.cmpop, node: ast.expr) -> Any:
        if a.type != b.type:
            raise ExprError(f"cannot compare a {a.type} with a {b.type}", _pos(node))
        if a.type != "number" and not isinstance(op, ast.Eq | ast.NotEq):
            raise ExprError(
                f"{_SYMBOL[type(op)]} needs numbers; {a.type}s take == or !=", _pos(node)
            )
        fn = _COMPARE[type(op)]

        def run(c: Columns, n: int) -> tuple[npt.NDArray[Any], BoolArray]:
            (x, bx), (y, by) = a.run(c, n), b.run(c, n)
            return np.asarray(fn(x, y), dtype=bool), bx | by

        return run

    def _membership(self, a: _Node, right: ast.expr, negate: bool) -> Any:
        if not isinstance(right, ast.Tuple | ast.List | ast.Set) or not all(
            isinstance(e, ast.Constant) for e in right.elts
        ):
            raise ExprError('expected a list of constants after in, e.g. ("NG", "RU")', _pos(right))
        members = [e.value for e in right.elts if isinstance(e, ast.Constant)]
        want = str if a.type == "string" else (int, float)
        if a.type == "bool" or not all(
            isinstance(m, want) and not isinstance(m, bool) for m in members
        ):
            raise ExprError(f"expected a list of {a.type}s to test a {a.type} against", _pos(right))
        pool = frozenset(members)

        def run(c: Columns, n: int) -> tuple[npt.NDArray[Any], BoolArray]:
            x, bad = a.run(c, n)
            if a.type == "number":
                hit = np.isin(x, np.array(list(pool), dtype=np.float64))
            else:
                hit = np.fromiter((v in pool for v in x), dtype=bool, count=n)
            return (~hit if negate else hit), bad

        return run

    def _call(self, fn: str, args: list[ast.expr], node: ast.Call) -> _Node:
        built = [self._expect(self.build(a), "number", a, f"numbers in {fn}()") for a in args]
        if len(built) != 1 if fn == "abs" else len(built) < 2:
            need = "one number" if fn == "abs" else "two numbers or more"
            raise ExprError(f"{fn}() takes {need}", _pos(node))
        reduce = {"abs": None, "min": np.minimum, "max": np.maximum}[fn]

        def run(c: Columns, n: int) -> tuple[npt.NDArray[Any], BoolArray]:
            results = [b.run(c, n) for b in built]
            if reduce is None:
                return np.abs(results[0][0]), results[0][1]
            values, bad = results[0][0], results[0][1].copy()
            for v, b in results[1:]:
                values, bad = reduce(values, v), bad | b
            return values, bad

        return _Node("number", run)


def _not(result: tuple[npt.NDArray[Any], BoolArray]) -> tuple[npt.NDArray[Any], BoolArray]:
    return ~result[0].astype(bool), result[1]


def _neg(result: tuple[npt.NDArray[Any], BoolArray]) -> tuple[npt.NDArray[Any], BoolArray]:
    return -result[0], result[1]


def _arith(fn: Callable[[Any, Any], Any], a: _Node, b: _Node) -> Any:
    def run(c: Columns, n: int) -> tuple[npt.NDArray[Any], BoolArray]:
        (x, bx), (y, by) = a.run(c, n), b.run(c, n)
        with np.errstate(all="ignore"):
            values = fn(x, y)
        return values, bx | by | ~np.isfinite(values)

    return run
