"""``fraudscore lists add|remove``: an entry that cannot be listed is one red line and exit 1,
refused before Redis is asked anything (unit tests open no socket), never a traceback; a value
that looks like a card number is never echoed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app
from features.lists import ListError, check_entry

PAN = "4111111111111111"


def lists(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(
        app, ["lists", *args, "--reason", "r", "--author", "a"], env={"COLUMNS": "300"}
    )
    return result.exit_code, result.output, result.exception


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["add", "--kind", "deny", "--field", "customer_id", "c1"], "unknown list 'deny'"),
        (["add", "--kind", "block", "--field", "email", "c1"], "unknown field 'email': use one of"),
        (["remove", "--kind", "allow", "--field", "country", "ng"], "'ng' is not a country"),
        (["add", "--kind", "block", "--field", "merchant_category", "599"], "not a merchant_"),
        (["add", "--kind", "block", "--field", "terminal_id", "t 1"], "String should match"),
    ],
)
def test_an_entry_that_cannot_be_listed_is_one_line(args: list[str], says: str) -> None:
    code, output, exc = lists(*args)
    assert code == 1 and isinstance(exc, SystemExit), (output, exc)  # not a blocked socket
    assert output.startswith("error: ") and output.count("\n") == 1, output
    assert says in output and "Traceback" not in output


@pytest.mark.parametrize("value", [PAN, "4111-1111-1111-1111", f"tok-{PAN}"])
def test_a_card_number_is_refused_and_never_echoed(value: str) -> None:
    code, output, exc = lists("add", "--kind", "block", "--field", "customer_id", value)
    assert code == 1 and isinstance(exc, SystemExit), (output, exc)
    assert "looks like a card number" in output and "1111" not in output


def test_check_entry_is_what_the_store_runs_first() -> None:
    assert check_entry("block", "country", "NG") == "block"
    assert check_entry("allow", "merchant_category", "7995") == "allow"
    with pytest.raises(ListError, match="card number"):
        check_entry("allow", "terminal_id", PAN)
