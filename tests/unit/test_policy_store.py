"""Policies in the registry: promote, roll back, list, audit; the source a worker follows."""

from __future__ import annotations

from pathlib import Path

import pytest

from decision import policy_store
from decision.policy import PolicyError, parse_policy
from decision.policy_store import PolicySource, PolicyStoreError

ONE = """name: one
rules:
  - id: big
    description: d
    action: review
    when: amount > 100
"""
TWO = ONE.replace("name: one", "name: two").replace("amount > 100", "amount > 200")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_versions_are_the_content(tmp_path: Path) -> None:
    v1 = policy_store.policy_version(parse_policy(ONE))
    assert v1.startswith("p-") and len(v1) == 14
    assert policy_store.policy_version(parse_policy(ONE + "\n# a comment\n")) == v1
    assert policy_store.policy_version(parse_policy(TWO)) != v1


def test_promote_rollback_list_and_audit(tmp_path: Path) -> None:
    root = tmp_path / "models"
    v1 = policy_store.promote(root, write(tmp_path, "a.yaml", ONE), reason="first", author="al")
    v2 = policy_store.promote(root, write(tmp_path, "b.yaml", TWO), reason="tighter", author="bo")
    assert policy_store.current_version(root) == v2
    assert [(p.version, p.name, p.status) for p in policy_store.list_policies(root)] == [
        (v1, "one", "retired"),
        (v2, "two", "current"),
    ]
    assert policy_store.rollback(root, reason="too strict", author="al") == v1
    assert policy_store.current_version(root) == v1
    log = policy_store.audit_log(root)
    assert [(e["action"], e["version"], e["previous"], e["author"]) for e in log] == [
        ("promote", v1, None, "al"),
        ("promote", v2, v1, "bo"),
        ("rollback", v1, v2, "al"),
    ]
    assert log[-1]["reason"] == "too strict" and log[0]["time"]
    with pytest.raises(PolicyStoreError, match="nothing to roll back to"):
        policy_store.rollback(root, reason="again", author="al")


def test_promoting_the_policy_in_force_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "models"
    path = write(tmp_path, "a.yaml", ONE)
    v = policy_store.promote(root, path, reason="r", author="a")
    assert policy_store.promote(root, path, reason="r", author="a") == v
    assert len(policy_store.audit_log(root)) == 1 and policy_store.history(root) == []


def test_a_policy_that_does_not_validate_is_never_stored(tmp_path: Path) -> None:
    root = tmp_path / "models"
    bad = write(tmp_path, "bad.yaml", ONE.replace("amount > 100", "amout > 100"))
    with pytest.raises(PolicyError, match="unknown field 'amout'"):
        policy_store.promote(root, bad, reason="r", author="a")
    assert policy_store.current_version(root) is None
    assert not (root / "policies").exists() or not list((root / "policies").glob("*.yaml"))


def test_the_source_follows_the_pointer_at_its_interval(tmp_path: Path) -> None:
    root, now = tmp_path / "models", [0.0]
    source = PolicySource(root, check_every_s=5.0, clock=lambda: now[0])
    assert source() is None  # no policy yet: the model decides alone
    v1 = policy_store.promote(root, write(tmp_path, "a.yaml", ONE), reason="r", author="a")
    now[0] = 4.9
    assert source() is None  # not checked again yet
    now[0] = 5.0
    rules = source()
    assert rules is not None and rules.version == v1 and len(rules) == 1
    assert source() is rules  # compiled once
    v2 = policy_store.promote(root, write(tmp_path, "b.yaml", TWO), reason="r", author="a")
    now[0] = 10.0
    assert (got := source()) is not None and got.version == v2


def test_the_source_refuses_a_stored_policy_edited_into_nonsense(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root, now = tmp_path / "models", [0.0]
    v1 = policy_store.promote(root, write(tmp_path, "a.yaml", ONE), reason="r", author="a")
    source = PolicySource(root, check_every_s=1.0, clock=lambda: now[0])
    assert (first := source()) is not None and first.version == v1
    v2 = policy_store.promote(root, write(tmp_path, "b.yaml", TWO), reason="r", author="a")
    (root / "policies" / f"{v2}.yaml").write_text("name: [\n")  # broken behind our back
    now[0] = 1.0
    assert source() is first  # the one in force stays
    assert f"refusing policy {v2}" in caplog.text
