"""Every command in the README and docs/*.md is run here, or names the test that covers it.

One test per documented command (id = file:line). Each is first checked against the real CLI
(command path, option names, value types) and its ``FRAUDSCORE_*`` names against the settings;
then it is either

- **run** for real by a runner in ``tests/docs/runners.py`` (cheap commands: ``--help``,
  ``schema``, ``validate`` on an example file, ``models``, ``label`` against the real broker,
  ``train`` on a small dataset), or
- **annotated** in the markdown, ``<!-- tested-by: tests/...py::test_name -->`` above its block,
  and the named test must exist, or
- **static** (``<!-- static: ... -->``): it cannot run here (docker, kubectl, a whole
  ``make test``); the named tests must exist and the built-in static check passes.

Anything else fails with the file and line of the command. Python examples are executed against
the real broker and their output read back; JSON examples must be valid wire messages.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.decode import Rejection, decode
from core.messages import Alert, TransactionEvent
from decision.outputs import alert_id
from devstack import TopicSpec, ensure_topics
from tests.docs.cli import parse_problem
from tests.docs.extract import (
    ROOT,
    SHELL_LANGS,
    Block,
    Command,
    all_commands,
    annotation_problems,
    blocks,
    code_blocks,
    doc_files,
    nodeid_problem,
    rel,
    segments,
)
from tests.docs.runners import DocRun, known_env_names, readme_alert, runner_for, static_problems

# the small dataset behind `train` and `models` has a test week without fraud; sklearn says so
pytestmark = pytest.mark.filterwarnings("ignore:No positive class found:UserWarning")
COMMANDS = all_commands()
PYTHON_BLOCKS = code_blocks("python")
JSON_BLOCKS = code_blocks("json")


def _param(cmd: Command) -> object:
    runner = runner_for(cmd)
    marks = [pytest.mark.integration] if runner and runner.needs_services else []
    return pytest.param(cmd, id=cmd.where, marks=marks)


def _block_id(block: Block) -> str:
    return f"{block.path.relative_to(ROOT)}:{block.line}"


@pytest.fixture
def doc_run(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> DocRun:
    monkeypatch.chdir(ROOT)  # documented commands are written for the repository root
    return DocRun(request, tmp_path, monkeypatch)


def test_the_docs_have_commands() -> None:
    """Guards the extractor itself: a parsing slip must not make the check vacuous."""
    assert len(COMMANDS) >= 30
    assert {c.block.path.name for c in COMMANDS} >= {"README.md", "producers.md", "alerts.md"}


def test_annotations_are_attached_and_current() -> None:
    assert list(annotation_problems()) == []


def test_every_setting_named_in_a_shell_block_exists() -> None:
    """``export FRAUDSCORE_...`` lines too: a misspelt variable is silently ignored."""
    known = known_env_names()
    unknown = [
        f"{rel(b.path)}:{b.first_body_line + i}: {name}"
        for path in doc_files()
        for b in blocks(path)
        if b.lang in SHELL_LANGS
        for i, line in enumerate(b.body)
        for name in re.findall(r"\bFRAUDSCORE_[A-Z0-9_]+", line)
        if name not in known
    ]
    assert unknown == []


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cmd", [_param(c) for c in COMMANDS])
def test_documented_command(cmd: Command, doc_run: DocRun) -> None:
    for words in segments(cmd.text):
        words = [w for w in words if not re.match(r"^[A-Z_][A-Z0-9_]*=", w)]
        if words and words[0] == "fraudscore":
            assert parse_problem(words[1:]) is None, f"{cmd.where}: {parse_problem(words[1:])}"
    unknown = set(re.findall(r"\bFRAUDSCORE_[A-Z0-9_]+", cmd.text)) - known_env_names()
    assert not unknown, f"{cmd.where}: no such setting {sorted(unknown)}"

    runner = runner_for(cmd)
    if runner is not None:
        runner.run(cmd, doc_run)
        return
    annotation = cmd.annotation()
    if annotation is None:
        pytest.fail(
            f"{cmd.where}: `{cmd.text}` is neither run by tests/docs/runners.py nor annotated; "
            "put <!-- tested-by: tests/<file>.py::<test> --> (or <!-- static: ... --> for "
            "a command that cannot run here) above its block",
            pytrace=False,
        )
    problems = [p for n in annotation.nodeids if (p := nodeid_problem(n))]
    assert not problems, f"{cmd.where}: {problems}"
    if annotation.kind == "static":
        assert static_problems(cmd) == []


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=_block_id)
def test_python_example_runs(
    block: Block, kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    """Run as written, with the local broker's address and the topic swapped for the test's own;
    every record it produces must be a valid event keyed by its customer_id."""
    from tests.e2e.helpers import read_all

    code = "\n".join(block.body)
    topic = f"{unique_name}.tx"
    assert '"payments.transactions"' in code, "only producer examples are known; extend this test"
    ensure_topics(kafka_bootstrap, [TopicSpec(topic, 4)])
    code = code.replace('"127.0.0.1:19092"', json.dumps(kafka_bootstrap))
    code = code.replace('"payments.transactions"', json.dumps(topic))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr
    records = read_all(kafka_bootstrap, topic)
    assert records, "the example produced nothing"
    for key, value, _ in records:
        event = decode(value, max_bytes=65536)
        assert not isinstance(event, Rejection), event
        assert isinstance(event, TransactionEvent) and key == event.customer_id.encode()


@pytest.mark.parametrize("block", JSON_BLOCKS, ids=_block_id)
def test_json_example_is_a_valid_message(block: Block) -> None:
    text = "\n".join(block.body)
    value = json.loads(text)
    if "alert_id" in value:
        alert = Alert.model_validate_json(text)  # JSON mode: the rules a consumer's bytes meet
        assert alert.alert_id == alert_id(alert.event_id), "not the id the worker would give it"
    elif "event_id" in value:
        TransactionEvent.model_validate_json(text)
    else:
        pytest.fail(f"{_block_id(block)}: a JSON example of no known message type")


def test_readme_first_screen() -> None:
    """What it is in two sentences, the two commands, and a real alert, before any section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = text.split("\n## ", 1)[0]
    assert len(intro.splitlines()) <= 45, "the first screen is about 45 lines"
    prose = intro.split("```", 1)[0].split("\n", 2)[2]  # after the title
    assert len(re.findall(r"[a-z)][.](?:\s|$)", prose)) == 2, "two sentences say what it is"
    assert re.search(r"^make demo\b", intro, re.MULTILINE)
    assert re.search(r"^make test\b", intro, re.MULTILINE)
    assert readme_alert().alert_id in intro
