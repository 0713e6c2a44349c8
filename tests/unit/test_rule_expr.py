"""Rule expressions: what parses, what is refused (with where and why), and that the vectorised
evaluation agrees row by row with a plain interpreter of the same tree."""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decision.expr import ExprError, Fields, compile_expr

FIELDS: Fields = {
    "amount": "number",
    "customer_tx_count_1d": "number",
    "customer_avg_amount_7d": "number",
    "is_night": "bool",
    "country": "string",
    "channel": "string",
}


def columns(**cols: list[Any]) -> tuple[dict[str, np.ndarray[Any, Any]], int]:
    out: dict[str, np.ndarray[Any, Any]] = {}
    for name, values in cols.items():
        kind = FIELDS[name]
        dtype = {"number": np.float64, "bool": bool, "string": object}[kind]
        out[name] = np.array(values, dtype=dtype)
    return out, len(next(iter(cols.values())))


def hits(source: str, **cols: list[Any]) -> list[bool]:
    c, n = columns(**cols)
    return compile_expr(source, FIELDS).evaluate(c, n).hit.tolist()


def test_thresholds_and_and_or() -> None:
    amounts = [100.0, 2500.0, 2500.0]
    counts = [5.0, 1.0, 4.0]
    rule = "amount > 2000 and customer_tx_count_1d >= 3"
    assert hits(rule, amount=amounts, customer_tx_count_1d=counts) == [False, False, True]
    rule = "amount > 2000 or customer_tx_count_1d >= 3"
    assert hits(rule, amount=amounts, customer_tx_count_1d=counts) == [True, True, True]


def test_strings_membership_and_missing_values() -> None:
    country = ["NG", "FR", None]
    assert hits('country in ("NG", "RU")', country=country) == [True, False, False]
    assert hits('country not in ["NG", "RU"]', country=country) == [False, True, True]
    assert hits('country == "FR"', country=country) == [False, True, False]


def test_arithmetic_functions_chains_and_booleans() -> None:
    amounts, avg = [100.0, 900.0, 50.0], [100.0, 100.0, 100.0]
    rule = "amount / customer_avg_amount_7d > 5"
    assert hits(rule, amount=amounts, customer_avg_amount_7d=avg) == [False, True, False]
    assert hits("10 < amount <= 100", amount=amounts) == [True, False, True]
    assert hits("abs(-amount) >= max(60, 90)", amount=amounts) == [True, True, False]
    assert hits("not is_night and amount > 60", is_night=[True, False, False], amount=amounts) == [
        False,
        True,
        False,
    ]


def test_a_division_by_zero_fails_the_row_instead_of_deciding_it() -> None:
    c, n = columns(amount=[100.0, 100.0], customer_avg_amount_7d=[0.0, 10.0])
    got = compile_expr("amount / customer_avg_amount_7d > 5", FIELDS).evaluate(c, n)
    assert got.failed.tolist() == [True, False]
    assert got.hit.tolist() == [False, True]


def test_a_surely_false_operand_decides_an_and_even_where_another_failed() -> None:
    c, n = columns(amount=[100.0, 100.0], customer_avg_amount_7d=[0.0, 0.0])
    rule = "amount > 1000 and amount / customer_avg_amount_7d > 5"
    got = compile_expr(rule, FIELDS).evaluate(c, n)
    assert got.failed.tolist() == [False, False] and got.hit.tolist() == [False, False]
    got = compile_expr("amount > 50 or amount / customer_avg_amount_7d > 5", FIELDS).evaluate(c, n)
    assert got.failed.tolist() == [False, False] and got.hit.tolist() == [True, True]


@pytest.mark.parametrize(
    ("source", "position", "says"),
    [
        ("amount >", 9, "does not parse"),
        ("amont > 5", 1, "unknown field 'amont'; did you mean amount"),
        ('amount > "5"', 10, "cannot compare a number with a string"),
        ('country > "FR"', 11, "> needs numbers"),
        ("amount", 1, "expected a condition"),
        ("amount > 5 and country", 16, "a condition on each side"),
        ("__import__('os').system('x')", 1, "only the functions abs, min, max"),
        ("amount.real > 1", 1, "Attribute is not part of the rule language"),
        ("country in (1, 2)", 12, "a list of strings"),
        ("country in channel", 12, "a list of constants"),
        ("amount is None", 11, "'is' is not part"),
        ("abs(amount, 2) > 1", 1, "abs() takes one number"),
        ("[x for x in amount]", 1, "ListComp is not part"),
    ],
)
def test_refused_expressions_say_where_and_why(source: str, position: int, says: str) -> None:
    with pytest.raises(ExprError) as caught:
        compile_expr(source, FIELDS)
    assert caught.value.position == position, caught.value
    assert says in caught.value.message


def test_names_are_the_fields_read() -> None:
    rule = compile_expr("amount > 5 and (country == 'FR' or is_night)", FIELDS)
    assert rule.names == {"amount", "country", "is_night"}


# -- the vectorised evaluation against a row-at-a-time interpreter ------------------------------

NUMBER_FIELDS = ["amount", "customer_tx_count_1d", "customer_avg_amount_7d"]


def numeric() -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(NUMBER_FIELDS), st.integers(-3, 3).map(str))
    return st.recursive(
        leaf,
        lambda inner: st.tuples(inner, st.sampled_from("+-*/"), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        max_leaves=4,
    )


def condition() -> st.SearchStrategy[str]:
    compare = st.tuples(numeric(), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numeric())
    leaf = st.one_of(
        compare.map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.just("is_night"),
        st.just('country in ("NG", "FR")'),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda e: f"not {e}"),
        ),
        max_leaves=5,
    )


def interpret(node: ast.expr, row: dict[str, Any]) -> Any:
    """One row, plain Python; None stands for undefined (a failed row)."""
    match node:
        case ast.Constant(value=v):
            return v
        case ast.Name(id=name):
            return row[name]
        case ast.UnaryOp(op=ast.Not(), operand=o):
            v = interpret(o, row)
            return None if v is None else not v
        case ast.UnaryOp(op=ast.USub(), operand=o):
            v = interpret(o, row)
            return None if v is None else -v
        case ast.BinOp(left=a, op=op, right=b):
            x, y = interpret(a, row), interpret(b, row)
            if x is None or y is None:
                return None
            try:
                v = (
                    {ast.Add: x + y, ast.Sub: x - y, ast.Mult: x * y}.get(type(op))
                    if not isinstance(op, ast.Div)
                    else x / y
                )
            except ZeroDivisionError:
                return None
            return v if math.isfinite(v) else None
        case ast.Compare(left=a, ops=[op], comparators=[b]):
            x = interpret(a, row)
            if isinstance(op, ast.In):
                return x in {e.value for e in b.elts}  # type: ignore[attr-defined]
            y = interpret(b, row)
            if x is None or y is None:
                return None
            return {
                ast.Lt: x < y,
                ast.LtE: x <= y,
                ast.Gt: x > y,
                ast.GtE: x >= y,
                ast.Eq: x == y,
                ast.NotEq: x != y,
            }[type(op)]
        case ast.BoolOp(op=op, values=values):
            vs = [interpret(v, row) for v in values]
            decisive = not isinstance(op, ast.And)  # False decides an and, True an or
            if decisive in vs:
                return decisive
            return None if None in vs else not decisive
    raise AssertionError(ast.dump(node))


@settings(max_examples=300, deadline=None)
@given(
    source=condition(),
    rows=st.lists(
        st.tuples(
            st.sampled_from([0.0, 1.0, 2.5, 2000.0]),
            st.sampled_from([0.0, 1.0, 3.0]),
            st.sampled_from([0.0, 0.5, 100.0]),
            st.booleans(),
            st.sampled_from(["NG", "FR", None]),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_vectorised_evaluation_matches_the_interpreter(
    source: str, rows: list[tuple[Any, ...]]
) -> None:
    names = ["amount", "customer_tx_count_1d", "customer_avg_amount_7d", "is_night", "country"]
    cols, n = columns(**{name: [r[i] for r in rows] for i, name in enumerate(names)})
    got = compile_expr(source, FIELDS).evaluate(cols, n)
    tree = ast.parse(source, mode="eval").body
    for i, r in enumerate(rows):
        want = interpret(tree, dict(zip(names, r, strict=True)))
        assert bool(got.failed[i]) == (want is None), (source, r)
        assert bool(got.hit[i]) == (want is True), (source, r)
