"""``fraudscore rules validate|show``: one line per refusal, exit 1, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from decision.policy import parse_policy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "policies" / "example.yaml"
BAD = """name: bad
rules:
  - id: typo
    description: d
    action: block
    when: amout > 5
  - id: wrong-action
    description: d
    action: deny
    when: amount > 1
"""


def test_the_example_validates() -> None:
    result = CliRunner().invoke(app, ["rules", "validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "4 active rule(s), 1 in shadow" in result.output


def test_a_bad_policy_is_refused_one_line_per_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = CliRunner().invoke(app, ["rules", "validate", str(EXAMPLE), str(bad)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("refused")]
    assert len(lines) == 2, result.output
    assert "rule 'typo' (rules[0]) when: position 1: unknown field 'amout'" in lines[0]
    assert "did you mean amount" in lines[0]
    assert "rule 'wrong-action' (rules[1]) action:" in lines[1]
    assert "Traceback" not in result.output


def test_show_lists_the_rules_in_order() -> None:
    result = CliRunner().invoke(app, ["rules", "show", str(EXAMPLE)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    ids = ["amount-spike", "risky-terminal-large", "night-high-score", "velocity-probe"]
    positions = [result.output.index(i) for i in ids]
    assert positions == sorted(positions)


def test_show_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["rules", "show", str(tmp_path / "x.yaml")])
    assert result.exit_code == 1 and "cannot read it" in result.output


def doc_blocks(lang: str) -> list[str]:
    text = (ROOT / "docs" / "rules.md").read_text()
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def test_the_guides_policy_examples_validate() -> None:
    blocks = doc_blocks("yaml")
    assert blocks, "docs/rules.md has no policy example"
    for block in blocks:
        parse_policy(block, "docs/rules.md")


def test_the_guides_refusal_example_is_what_validate_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (shown,) = [b.strip() for b in doc_blocks("text") if b.startswith("refused:")]
    monkeypatch.chdir(tmp_path)
    Path("new.yaml").write_text(BAD.split("  - id: wrong-action")[0])
    result = CliRunner().invoke(app, ["rules", "validate", "new.yaml"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert result.output.strip() == shown


def test_promote_list_audit_and_rollback(tmp_path: Path) -> None:
    env = {"FRAUDSCORE_MODEL_DIR": str(tmp_path / "models"), "COLUMNS": "300"}
    run = CliRunner().invoke
    tighter = tmp_path / "tighter.yaml"
    tighter.write_text(EXAMPLE.read_text().replace("amount > 150", "amount > 100"))
    first = run(
        app, ["rules", "promote", str(EXAMPLE), "--reason", "start", "--author", "al"], env=env
    )
    assert first.exit_code == 0 and "in force" in first.output, first.output
    args = ["rules", "promote", str(tighter), "--reason", "lower bar", "--author", "bo"]
    assert run(app, args, env=env).exit_code == 0
    listed = run(app, ["rules", "list"], env=env).output
    assert listed.count("example") == 2 and "current" in listed and "retired" in listed
    back = run(app, ["rules", "rollback", "--reason", "too many reviews"], env=env)
    assert back.exit_code == 0 and "in force again" in back.output
    audit = run(app, ["rules", "audit"], env=env).output
    assert "lower bar" in audit and "too many reviews" in audit and "bo" in audit
    again = run(app, ["rules", "rollback", "--reason", "x"], env=env)
    assert again.exit_code == 1 and "nothing to roll back to" in again.output


def test_a_bad_policy_is_never_promoted(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    env = {"FRAUDSCORE_MODEL_DIR": str(tmp_path / "models"), "COLUMNS": "300"}
    result = CliRunner().invoke(
        app, ["rules", "promote", str(bad), "--reason", "r", "--author", "a"], env=env
    )
    assert result.exit_code == 1 and "refused:" in result.output
    assert "unknown field 'amout'" in result.output
    assert CliRunner().invoke(app, ["rules", "list"], env=env).output.count("p-") == 0
