"""The allow and block lists on a real Redis: changes, version, snapshot and audit trail; a card
number is refused with nothing written; every key in the prefix's hash-tag slot; a
``ListSource`` picks a change up at its next check; ``fraudscore lists`` end to end, and one
clear line when Redis does not answer."""

from __future__ import annotations

import json

import pytest
import redis
from redis.crc import key_slot
from typer.testing import CliRunner

from cli.main import app
from decision.lists import ListSource
from features.lists import ListError, ListSnapshot, ListStore
from features.redis_client import connect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def store(redis_url: str, prefix: str) -> ListStore:
    return ListStore(connect(redis_url, socket_timeout_ms=2000), prefix=prefix)


def test_changes_version_snapshot_and_audit(redis_url: str, unique_name: str) -> None:
    lists = store(redis_url, unique_name)
    assert lists.version() == 0 and lists.snapshot() == ListSnapshot() and lists.audit() == []
    assert lists.add("block", "customer_id", "c1", reason="fraud ring", author="alice")
    assert lists.add("block", "customer_id", "c2", reason="fraud ring", author="alice")
    assert lists.add("allow", "terminal_id", "t9", reason="test terminal", author="bob")
    assert lists.add("block", "country", "NG", reason="sanctions", author="bob")
    assert not lists.add("block", "customer_id", "c1", reason="again", author="carol")
    assert lists.remove("block", "customer_id", "c2", reason="cleared", author="alice")
    assert not lists.remove("allow", "terminal_id", "t1", reason="never there", author="bob")
    assert lists.version() == 7  # every request, the no-ops too

    snap = lists.snapshot()
    assert snap.version == 7
    assert snap.block == {"customer_id": frozenset({"c1"}), "country": frozenset({"NG"})}
    assert snap.allow == {"terminal_id": frozenset({"t9"})}
    assert snap.entries() == [
        ("block", "customer_id", "c1"),
        ("block", "country", "NG"),
        ("allow", "terminal_id", "t9"),
    ]

    trail = lists.audit()
    assert [(e["action"], e["kind"], e["field"], e["value"], e["author"]) for e in trail] == [
        ("add", "block", "customer_id", "c1", "alice"),
        ("add", "block", "customer_id", "c2", "alice"),
        ("add", "allow", "terminal_id", "t9", "bob"),
        ("add", "block", "country", "NG", "bob"),
        ("add", "block", "customer_id", "c1", "carol"),
        ("remove", "block", "customer_id", "c2", "alice"),
        ("remove", "allow", "terminal_id", "t1", "bob"),
    ]
    assert trail[0]["reason"] == "fraud ring" and trail[0]["time"].endswith("+00:00")
    assert [e["reason"] for e in lists.audit(limit=2)] == ["cleared", "never there"]


def test_a_card_number_is_refused_and_nothing_is_written(redis_url: str, unique_name: str) -> None:
    lists = store(redis_url, unique_name)
    with pytest.raises(ListError, match="card number") as refused:
        lists.add("block", "customer_id", "4111111111111111", reason="r", author="a")
    assert "4111" not in str(refused.value)
    with pytest.raises(ListError, match="not a country"):
        lists.remove("block", "country", "Nigeria", reason="r", author="a")
    assert lists.version() == 0 and lists.audit() == []
    client = redis.Redis.from_url(redis_url)
    assert client.keys(f"{unique_name}:*") == []
    # a card number in the free text is masked before it is written
    lists.add("block", "customer_id", "c1", reason="called about 4111 1111 1111 1111", author="a")
    stored = client.lrange(f"{unique_name}:list:audit", 0, -1)
    assert b"4111" not in b"".join(stored)
    assert json.loads(stored[0])["reason"] == "called about " + "#" * 19


def test_every_key_is_in_the_hash_tag_slot(redis_url: str, unique_name: str) -> None:
    prefix = f"{{{unique_name}}}"
    lists = store(redis_url, prefix)
    lists.add("block", "terminal_id", "t1", reason="r", author="a")
    lists.add("allow", "merchant_category", "5411", reason="r", author="a")
    keys = redis.Redis.from_url(redis_url).keys(f"{prefix}:*")
    assert {k.decode().split(":", 2)[2] for k in keys} == {
        "block:terminal_id",
        "allow:merchant_category",
        "version",
        "audit",
    }
    assert {key_slot(k) for k in keys} == {key_slot(unique_name.encode())}


def test_a_source_picks_a_change_up_at_its_next_check(redis_url: str, unique_name: str) -> None:
    lists, now = store(redis_url, unique_name), [0.0]
    source = ListSource(store(redis_url, unique_name), check_every_s=1.0, clock=lambda: now[0])
    assert source() == ListSnapshot()
    lists.add("block", "customer_id", "c7", reason="r", author="a")  # another process
    now[0] = 0.5
    assert source() == ListSnapshot(), "not asked again within the interval"
    now[0] = 1.0
    seen = source()
    assert seen is not None and seen.version == 1
    assert seen.block == {"customer_id": frozenset({"c7"})}
    lists.remove("block", "customer_id", "c7", reason="r", author="a")
    now[0] = 2.0
    assert source() == ListSnapshot(2, {}, {})


def cli(args: list[str], redis_url: str, prefix: str) -> tuple[int, str]:
    env = {"FRAUDSCORE_REDIS_URL": redis_url, "FRAUDSCORE_REDIS_KEY_PREFIX": prefix}
    env |= {"FRAUDSCORE_REDIS_SOCKET_TIMEOUT_MS": "2000", "COLUMNS": "300"}
    result = CliRunner().invoke(app, ["lists", *args], env=env)
    return result.exit_code, result.output


def test_the_cli_adds_shows_audits_and_removes(redis_url: str, unique_name: str) -> None:
    who = ["--reason", "confirmed fraud", "--author", "alice"]
    add = ["add", "--kind", "block", "--field", "customer_id", "c42", *who]
    code, output = cli(add, redis_url, unique_name)
    assert code == 0 and "c42 added to the block list of customer_id" in output, output
    code, output = cli(add, redis_url, unique_name)
    assert code == 0 and "already on" in output, output
    allow = ["add", "--kind", "allow", "--field", "terminal_id", "t1", "--reason", "x"]
    assert cli([*allow, "--author", "bob"], redis_url, unique_name)[0] == 0
    code, output = cli(["show"], redis_url, unique_name)
    assert code == 0 and "lists version 3" in output and "2 entries" in output, output
    assert output.index("c42") < output.index("t1")  # block lists first
    remove = ["remove", "--kind", "block", "--field", "customer_id", "c42"]
    code, output = cli(
        [*remove, "--reason", "withdrawn", "--author", "carol"], redis_url, unique_name
    )
    assert code == 0 and "removed from" in output, output
    code, output = cli(["audit"], redis_url, unique_name)
    assert code == 0, output
    rows = [line for line in output.splitlines() if "customer_id" in line or "terminal" in line]
    assert len(rows) == 4 and "withdrawn" in rows[-1] and "carol" in rows[-1], output
    assert store(redis_url, unique_name).snapshot().block == {}


def test_the_cli_says_in_one_line_when_redis_does_not_answer(unique_name: str) -> None:
    url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    add = [
        "add",
        "--kind",
        "block",
        "--field",
        "customer_id",
        "c1",
        "--reason",
        "r",
        "--author",
        "a",
    ]
    for args in (["show"], ["audit"], add):
        code, output = cli(args, url, unique_name)
        assert code == 1 and output.startswith("error: Redis at redis://127.0.0.1:1/0"), output
        assert output.count("\n") == 1 and "Traceback" not in output
