"""Versioned policies in the model registry, and the one a worker follows.

Layout under the registry root (``Settings.model_dir``), next to the model bundles::

    root/policies/<version>.yaml   each promoted policy file, as written by its author
    root/policies/current          the version in force, one line (none: the model alone)
    root/policies/history          versions in force before, oldest first (for rollback)
    root/policies/audit.jsonl      every promotion and rollback: who, when, why, one JSON a line

A version is ``p-`` and the first 12 hex digits of the SHA-256 of the validated policy (its
canonical JSON), so the same rules always get the same version. Only a policy that validates
is stored, and pointers move under the registry's writer lock, atomically
(``models.registry``): a worker reading ``current`` sees the old or the new version.

``PolicySource`` is what a worker calls once per batch: it looks at the pointer every
``check_every_s`` and compiles a new version once; a stored policy that no longer validates (a
file edited by hand) is refused with one log line, and the one in force stays.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import jsonl
from decision.policy import Policy, PolicyError, load_policy
from decision.rules import Ruleset
from models.registry import locked, read_lines, write_atomic

log = logging.getLogger(__name__)

POLICIES, CURRENT, HISTORY, AUDIT = "policies", "current", "history", "audit.jsonl"


class PolicyStoreError(ValueError):
    """A promotion or rollback that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    version: str
    name: str
    active: int
    shadow: int
    status: str  # "current", "retired" (in force before) or ""


def _dir(root: Path) -> Path:
    return Path(root) / POLICIES


def policy_version(policy: Policy) -> str:
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "p-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def current_version(root: Path) -> str | None:
    lines = read_lines(_dir(root) / CURRENT)
    return lines[0] if lines else None


def history(root: Path) -> list[str]:
    return read_lines(_dir(root) / HISTORY)


def load_version(root: Path, version: str) -> Policy:
    path = _dir(root) / f"{version}.yaml"
    if "/" in version or version.startswith(".") or not path.is_file():
        raise PolicyStoreError(f"unknown policy version {version!r} under {_dir(root)}")
    return load_policy(path)


def _audit(root: Path, entry: dict[str, Any]) -> None:
    jsonl.append_line(
        _dir(root) / AUDIT, {"time": datetime.now(UTC).isoformat(timespec="seconds"), **entry}
    )


def audit_log(root: Path) -> list[dict[str, Any]]:
    """Every promotion and rollback, oldest first (a torn last line after a crash is skipped)."""
    return jsonl.objects(read_lines(_dir(root) / AUDIT))


def promote(root: Path, path: Path, *, reason: str, author: str) -> str:
    """Validate the file, store it, put it in force, log it; returns its version.

    ``PolicyError`` if it does not validate: nothing is stored and nothing changes.
    """
    text = path.read_text() if path.is_file() else ""
    policy = load_policy(path)  # refuses a missing or invalid file first
    version = policy_version(policy)
    with locked(root):
        stored = _dir(root) / f"{version}.yaml"
        if not stored.is_file():
            write_atomic(stored, text)
        previous = current_version(root)
        if previous == version:
            return version
        if previous is not None:
            write_atomic(
                _dir(root) / HISTORY, "".join(f"{v}\n" for v in [*history(root), previous])
            )
        write_atomic(_dir(root) / CURRENT, version + "\n")
        _audit(root, _entry("promote", version, previous, policy, reason, author))
    return version


def rollback(root: Path, *, reason: str, author: str) -> str:
    """Put the policy in force before the current one back; returns its version."""
    with locked(root):
        past = history(root)
        if not past:
            raise PolicyStoreError("nothing to roll back to: no policy was in force before")
        target, previous = past[-1], current_version(root)
        policy = load_version(root, target)
        write_atomic(_dir(root) / CURRENT, target + "\n")
        write_atomic(_dir(root) / HISTORY, "".join(f"{v}\n" for v in past[:-1]))
        _audit(root, _entry("rollback", target, previous, policy, reason, author))
    return target


def _entry(
    action: str, version: str, previous: str | None, policy: Policy, reason: str, author: str
) -> dict[str, Any]:
    return {
        "action": action,
        "version": version,
        "previous": previous,
        "name": policy.name,
        "rules": len(policy.rules),
        "reason": reason,
        "author": author,
    }


def list_policies(root: Path) -> list[PolicyInfo]:
    """Stored versions in the order they were first promoted."""
    current, past = current_version(root), set(history(root))
    seen: list[str] = []
    for entry in audit_log(root):
        v = entry.get("version")
        if isinstance(v, str) and v not in seen:
            seen.append(v)
    out = []
    for v in seen:
        try:
            p = load_version(root, v)
        except (PolicyError, PolicyStoreError):
            continue
        shadow = sum(r.mode == "shadow" for r in p.rules)
        status = "current" if v == current else "retired" if v in past else ""
        out.append(PolicyInfo(v, p.name, len(p.rules) - shadow, shadow, status))
    return out


class PolicySource:
    """The compiled policy in force, re-read at most every ``check_every_s``; None: no policy."""

    def __init__(
        self,
        root: Path,
        *,
        check_every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._root, self._every, self._clock = Path(root), check_every_s, clock
        self._checked = -float("inf")
        self._version: str | None = None
        self._rules: Ruleset | None = None

    def __call__(self) -> Ruleset | None:
        now = self._clock()
        if now - self._checked >= self._every:
            self._checked = now
            self._maybe_reload()
        return self._rules

    def _maybe_reload(self) -> None:
        try:
            version = current_version(self._root)
        except OSError as exc:
            log.error("cannot read the policy pointer: %s; keeping %s", exc, self._version)
            return
        if version == self._version:
            return
        if version is None:
            log.info("no policy in force any more: the model decides alone")
            self._version, self._rules = None, None
            return
        try:
            policy = load_version(self._root, version)
        except (PolicyError, PolicyStoreError, OSError) as exc:
            log.error("refusing policy %s: %s; keeping %s", version, exc, self._version)
            self._version = version  # do not retry every check; a new promotion moves it
            return
        self._version, self._rules = version, Ruleset(policy, version)
        log.info("policy %s in force (%s, %d rules)", version, policy.name, len(policy.rules))
