"""docs/producers.md's kcat example, followed literally against the local broker.

The commands are read from the markdown blocks annotated with this test, the broker address and
topic names swapped for the test's own, and run with bash. A bounded worker then consumes what
they produced: the good event must be scored, the broken one dead-lettered with a readable reason
header, and the documented dead-letter reader must print that reason as the doc shows it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core.messages import ScoreRecord
from tests.docs.extract import ROOT, Block, blocks, commands
from tests.e2e.conftest import e2e_dataset, e2e_model_dir  # noqa: F401  (fixtures used below)
from tests.e2e.helpers import e2e_settings, read_all, running_worker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        shutil.which("kcat") is None,
        reason="kcat missing (scripts/bootstrap-system.sh installs it)",
    ),
]
DOC = ROOT / "docs" / "producers.md"
THIS = "tests/integration/test_kcat.py::test_kcat_events_are_scored_or_dead_lettered_as_documented"


def documented() -> tuple[list[str], str, list[str]]:
    """The doc's kcat commands in order (producers, then the dead-letter reader) and the output
    shown after the reader's block."""
    found = blocks(DOC)
    ours = [b for b in found if any(THIS in a.nodeids for a in b.annotations)]
    cmds = [c.text for b in ours for c in commands(b)]
    producers = [c for c in cmds if " -P " in c]
    reader = next(c for c in cmds if " -C " in c)
    output = _block_after(found, ours[-1])
    return producers, reader, [line for line in output.body if line.strip()]


def _block_after(found: list[Block], block: Block) -> Block:
    later = [b for b in found if b.line > block.line]
    assert later and later[0].lang == "text", "the reader's output follows its block"
    return later[0]


def localised(command: str, kafka: str, topic: str, dlq: str) -> str:
    """The documented command on this test's broker and topics."""
    command = command.replace("127.0.0.1:19092", kafka)
    return re.sub(r"payments\.transactions(\.dlq)?", lambda m: dlq if m[1] else topic, command)


def bash(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60
    )


def _shape(line: str, topic: str) -> str:
    """A dead-letter header line without what differs between runs: topic, position, time."""
    line = line.replace(topic, "TOPIC")
    return re.sub(r"(origin_(?:partition|offset|timestamp_ms))=\d+", r"\1=N", line)


def test_kcat_events_are_scored_or_dead_lettered_as_documented(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    e2e_model_dir: Path,  # noqa: F811
) -> None:
    s = e2e_settings(
        kafka_bootstrap, redis_url, unique_name, e2e_model_dir, topic_dlq=f"{unique_name}.tx.dlq"
    )
    producers, reader, shown = documented()
    assert len(producers) == 2, "one good event and one broken one"
    for command in producers:
        done = bash(localised(command, kafka_bootstrap, s.topic_transactions, s.topic_dlq))
        assert done.returncode == 0, done.stderr

    produced = read_all(kafka_bootstrap, s.topic_transactions)
    assert sorted(key or b"" for key, _, _ in produced) == [b"cust-8f3a", b"cust-8f3a"], (
        "keyed by customer_id, as documented"
    )

    with running_worker(s, max_events=2, idle_timeout_s=30) as result:
        pass
    assert result["stats"].consumed == 2

    scores = [
        ScoreRecord.model_validate_json(v or b"")
        for _, v, _ in read_all(kafka_bootstrap, s.topic_scores)
    ]
    assert [r.event_id for r in scores] == ["tx-000002"]
    assert scores[0].customer_id == "cust-8f3a" and 0.0 <= scores[0].score <= 1.0

    dead = read_all(kafka_bootstrap, s.topic_dlq)
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0][2]}
    assert headers["reason"] == "amount: Input should be a valid number"
    assert headers["stage"] == "validate"
    assert headers["origin_topic"] == s.topic_transactions

    printed = bash(localised(reader, kafka_bootstrap, s.topic_transactions, s.topic_dlq))
    assert printed.returncode == 0, printed.stderr
    lines = [line for line in printed.stdout.splitlines() if line.strip()]
    assert [_shape(x, s.topic_transactions) for x in lines] == [
        _shape(x, "payments.transactions") for x in shown
    ]
