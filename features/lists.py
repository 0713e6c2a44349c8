"""Allow and block lists in Redis: what analysts put on them, one version every worker follows,
and the trail of every change.

Keys (prefix ``FRAUDSCORE_REDIS_KEY_PREFIX``, ``fs`` by default): ``fs:list:block:<field>`` and
``fs:list:allow:<field>`` a set of values each (``<field>`` one of ``LIST_FIELDS``, the event's
key fields), ``fs:list:version`` a counter raised by every change, ``fs:list:audit`` the trail,
one JSON object per change, oldest first. None has a TTL: a list is configuration, kept until
someone removes the entry.

Every change is one MULTI/EXEC transaction (the set, the counter and the trail), so no change
goes unaudited and a worker that sees a new version reads the sets as of that version. A request
that changes nothing (a value already listed, or not listed) is still audited, as what an analyst
did, and still raises the version; ``add`` and ``remove`` say whether the set changed.

Workers poll ``version()`` (one GET) and read ``snapshot()`` only when it has moved: the counter
and every set in one transaction, so a snapshot is one consistent state.

Values are tokens, as on the events: a value that looks like a card number is refused before
anything else, without being echoed, and so is one the field's events could never carry (a
lowercase country, a three-digit MCC). Reasons and authors are free text: card numbers in them
are masked before they are written.

Redis Cluster: every key is under the prefix, whose hash tag puts them all in one slot, so a
transaction over several of them is allowed there too (``features.online``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import TypeAdapter, ValidationError
from redis.cluster import RedisCluster

from core import jsonl
from core.messages import TransactionEvent
from core.pan import find_pans, mask_pans
from features.online import StoreUnavailable
from features.redis_client import FAILED, Client

Kind = Literal["allow", "block"]
KINDS: tuple[Kind, ...] = ("block", "allow")  # in order of precedence
LIST_FIELDS = ("customer_id", "terminal_id", "merchant_category", "country")
# each field's values are checked as the event's own field is: a listed value can match
_VALUE = {
    f: TypeAdapter(Annotated[str, *TransactionEvent.model_fields[f].metadata]) for f in LIST_FIELDS
}


class ListError(ValueError):
    """A list change refused; the message says why (and never repeats a card-number-like value)."""


@dataclass(frozen=True, slots=True)
class ListSnapshot:
    """The lists as of one ``version``: field -> values, per kind (a field may be left out)."""

    version: int = 0
    allow: Mapping[str, frozenset[str]] = field(default_factory=dict)
    block: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def values(self, kind: Kind, field: str) -> frozenset[str]:
        return (self.block if kind == "block" else self.allow).get(field, frozenset())

    @property
    def empty(self) -> bool:
        return not any(self.values(k, f) for k in KINDS for f in LIST_FIELDS)

    def entries(self) -> list[tuple[Kind, str, str]]:
        """(kind, field, value) of every entry: block lists first, fields in their order."""
        return [(k, f, v) for k in KINDS for f in LIST_FIELDS for v in sorted(self.values(k, f))]


def check_entry(kind: str, field: str, value: str) -> Kind:
    """``kind`` as a ``Kind`` if the entry can be listed, else ``ListError`` saying why."""
    if kind not in KINDS:
        raise ListError(f"unknown list {kind!r}: use block or allow")
    if field not in LIST_FIELDS:
        raise ListError(f"unknown field {field!r}: use one of {', '.join(LIST_FIELDS)}")
    if find_pans(value):
        raise ListError("the value looks like a card number (PAN): list its token, never a PAN")
    try:
        _VALUE[field].validate_python(value)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]["msg"]
        raise ListError(f"{value!r} is not a {field} the events can carry: {problem}") from None
    return "block" if kind == "block" else "allow"


class ListStore:
    """The allow and block lists under ``prefix`` on one Redis (or one cluster slot)."""

    def __init__(self, client: Client, *, prefix: str = "fs") -> None:
        if isinstance(client, RedisCluster) and "{" not in prefix:
            raise ValueError(f"Redis Cluster needs a {{hash tag}} in the key prefix {prefix!r}")
        self._client, self._prefix = client, prefix

    def key(self, kind: Kind, field: str) -> str:
        return f"{self._prefix}:list:{kind}:{field}"

    @property
    def version_key(self) -> str:
        return f"{self._prefix}:list:version"

    @property
    def audit_key(self) -> str:
        return f"{self._prefix}:list:audit"

    def add(self, kind: str, field: str, value: str, *, reason: str, author: str) -> bool:
        """Put ``value`` on the list; True if it was not on it already."""
        return self._change("add", kind, field, value, reason, author)

    def remove(self, kind: str, field: str, value: str, *, reason: str, author: str) -> bool:
        """Take ``value`` off the list; True if it was on it."""
        return self._change("remove", kind, field, value, reason, author)

    def _change(
        self,
        action: Literal["add", "remove"],
        kind: str,
        field: str,
        value: str,
        reason: str,
        author: str,
    ) -> bool:
        k = check_entry(kind, field, value)
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "action": action,
            "kind": k,
            "field": field,
            "value": value,
            "reason": mask_pans(reason),
            "author": mask_pans(author),
        }
        pipe = self._client.pipeline(transaction=True)
        if action == "add":
            pipe.sadd(self.key(k, field), value)
        else:
            pipe.srem(self.key(k, field), value)
        pipe.incr(self.version_key)
        pipe.rpush(self.audit_key, json.dumps(entry))
        try:
            changed, *_ = pipe.execute()
        except FAILED as exc:
            raise StoreUnavailable(f"Redis list change failed: {exc}") from exc
        return bool(changed)

    def version(self) -> int:
        """The lists' version: 0 before the first change."""
        try:
            raw = self._client.get(self.version_key)
        except FAILED as exc:
            raise StoreUnavailable(f"Redis list version read failed: {exc}") from exc
        return int(raw or 0)

    def snapshot(self) -> ListSnapshot:
        """Every list and the version, read in one transaction."""
        pipe = self._client.pipeline(transaction=True)
        pipe.get(self.version_key)
        for k in KINDS:
            for f in LIST_FIELDS:
                pipe.smembers(self.key(k, f))
        try:
            raw_version, *sets = pipe.execute()
        except FAILED as exc:
            raise StoreUnavailable(f"Redis list read failed: {exc}") from exc
        values = iter(sets)
        by_kind: dict[Kind, dict[str, frozenset[str]]] = {k: {} for k in KINDS}
        for k in KINDS:
            for f in LIST_FIELDS:
                if members := next(values):
                    by_kind[k][f] = frozenset(m.decode() for m in members)
        return ListSnapshot(int(raw_version or 0), by_kind["allow"], by_kind["block"])

    def audit(self, limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` changes, oldest first."""
        try:
            lines = self._client.lrange(self.audit_key, -limit, -1) if limit > 0 else []
        except FAILED as exc:
            raise StoreUnavailable(f"Redis list audit read failed: {exc}") from exc
        return jsonl.objects(lines)
