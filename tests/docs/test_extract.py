"""The extractor's rules on small markdown samples (pure text, no services)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.cli import help_examples, parse_problem
from tests.docs.extract import (
    ROOT,
    annotation_problems,
    blocks,
    commands,
    nodeid_problem,
    segments,
    strip_comment,
)

SAMPLE = """# Title

Some prose with `fraudscore inline` that is not a command.

<!-- tested-by(fraudscore worker): tests/a.py::test_w -->
<!-- tested-by: tests/a.py::test_b tests/c.py::test_d -->

```bash
fraudscore worker        # one worker
export FRAUDSCORE_GROUP_ID=g
FRAUDSCORE_METRICS_PORT=9108 fraudscore worker --max-events 10
echo 'a|b' \\
  | kcat -P -t t -K '|'   # a '#' inside quotes stays: '#'
```

```console
$ fraudscore validate x.jsonl
x.jsonl:1: validate: amount: bad
1 invalid line(s)
$ fraudscore schema check
schemas up to date
```

```python
print("not a shell block")
```

  ```sh
  cd somewhere
  make test
  ```
"""


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(SAMPLE, encoding="utf-8")
    return path


def test_commands_lines_and_continuations(doc: Path) -> None:
    found = [c for b in blocks(doc) for c in commands(b)]
    assert [(c.line, c.text) for c in found] == [
        (9, "fraudscore worker"),
        (11, "FRAUDSCORE_METRICS_PORT=9108 fraudscore worker --max-events 10"),
        (12, "echo 'a|b' | kcat -P -t t -K '|'"),
        (17, "fraudscore validate x.jsonl"),
        (20, "fraudscore schema check"),
        (30, "make test"),
    ]
    assert found[1].program == "fraudscore" and found[1].bare == "fraudscore worker --max-events 10"
    assert found[3].expected_output == ("x.jsonl:1: validate: amount: bad", "1 invalid line(s)")
    assert found[4].expected_output == ("schemas up to date",)
    assert found[0].expected_output is None


def test_scoped_annotation_wins_over_the_block_one(doc: Path) -> None:
    first = commands(blocks(doc)[0])
    scoped = first[0].annotation()
    assert scoped is not None and scoped.scope == "fraudscore worker"
    assert first[1].annotation() == scoped, "assignments do not hide the command from its scope"
    rest = first[2].annotation()
    assert rest is not None and rest.scope is None
    assert rest.nodeids == ("tests/a.py::test_b", "tests/c.py::test_d")
    assert all(c.annotation() is None for b in blocks(doc)[1:] for c in commands(b))


def test_stray_and_stale_annotations_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text(
        "<!-- tested-by: tests/x.py::test_y -->\n\nprose\n\n"
        "<!-- tested-by(fraudscore nothing): tests/x.py::test_y -->\n```bash\nmake test\n```\n"
        "<!-- tested by: typo -->\n",
        encoding="utf-8",
    )
    problems = list(annotation_problems([path]))
    assert len(problems) == 3
    assert "bad.md:1: annotation is not above a shell block" in problems[0]
    assert any("bad.md:9: annotation does not parse" in p for p in problems)
    assert any("scope 'fraudscore nothing' matches no command" in p for p in problems)


def test_nodeids_are_checked_against_the_tree() -> None:
    real = "tests/docs/test_extract.py::test_nodeids_are_checked_against_the_tree"
    assert nodeid_problem(real) is None
    assert nodeid_problem(real + "[param]") is None
    assert "no test" in (nodeid_problem("tests/docs/test_extract.py::test_missing") or "")
    assert "no file" in (nodeid_problem("tests/nope.py::test_x") or "")
    assert "not a node id" in (nodeid_problem("tests/docs/test_extract.py") or "")
    assert "not a test function" in (nodeid_problem("tests/docs/test_extract.py::doc") or "")
    assert ROOT.joinpath("tests/docs/test_extract.py").is_file()


def test_segments_and_comments() -> None:
    assert segments("A=1 fraudscore alerts tail --json | jq .reasons > out.txt") == [
        ["A=1", "fraudscore", "alerts", "tail", "--json"],
        ["jq", ".reasons"],
    ]
    assert strip_comment("echo '#x' # note") == "echo '#x'"
    assert strip_comment("echo a#b") == "echo a#b"


def test_cli_parse_catches_a_stale_option_or_command() -> None:
    assert parse_problem(["worker", "--max-events", "10"]) is None
    assert "No such option" in (parse_problem(["worker", "--max-event", "10"]) or "")
    assert "needs a command" in (parse_problem(["models"]) or "")
    assert parse_problem(["models", "lst"]) is not None


def test_help_examples_are_cut_at_separators_and_prose() -> None:
    text = (
        "Do it.\n\nExamples: fraudscore a --x 1  |  fraudscore b 'two words' (then look);"
        " later: fraudscore c > out.json\nfraudscore not-an-example"
    )
    assert [e.words for e in help_examples(text)] == [
        ("a", "--x", "1"),
        ("b", "two words"),
        ("c",),
        ("not-an-example",),
    ]
