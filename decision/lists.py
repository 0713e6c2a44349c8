"""Allow and block lists applied to a batch, and the lists a worker follows.

A listed value is an analyst's verdict on a customer, a terminal, a merchant category or a
country, so lists come before the model and the policy (``decision.core``):

1. an event with a value on a block list is decided ``block``, whatever else says;
2. otherwise an event with a value on an allow list is decided ``allow``, over the model and
   every rule;
3. otherwise the model and the policy decide.

Every list an event matched is reported like a rule, as ``list:<kind>:<field>`` (block lists
first), before the policy's rule ids. A field whose lists are empty is never looked at, so lists
cost nothing until something is listed.

``ListSource`` is what a worker calls once per batch: it asks Redis for the lists' version every
``check_every_s`` and reads them again only when it has moved. A Redis error keeps the lists in
force (logged once until they can be read again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.messages import TransactionEvent
from decision.policy import Action
from features.lists import KINDS, LIST_FIELDS, Kind, ListSnapshot, ListStore
from features.online import StoreUnavailable

log = logging.getLogger(__name__)


def list_id(kind: Kind, field: str) -> str:
    return f"list:{kind}:{field}"


@dataclass(slots=True)
class ListHits:
    """The rows a list decides, the list ids per row (rows with any) and rows per list id."""

    actions: dict[int, Action] = field(default_factory=dict)
    ids: dict[int, tuple[str, ...]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def match_lists(lists: ListSnapshot, events: Sequence[TransactionEvent]) -> ListHits:
    """Which events the lists decide, and how: one set lookup per event per listed field."""
    hits = ListHits()
    ids: dict[int, list[str]] = {}
    for kind in KINDS:  # block first: it wins, and its ids come first
        for f in LIST_FIELDS:
            values = lists.values(kind, f)
            if not values:
                continue
            rows = [i for i, ev in enumerate(events) if getattr(ev, f) in values]
            if not rows:
                continue
            lid = list_id(kind, f)
            hits.counts[lid] = len(rows)
            for i in rows:
                ids.setdefault(i, []).append(lid)
                hits.actions.setdefault(i, kind)
    hits.ids = {i: tuple(v) for i, v in ids.items()}
    return hits


class ListSource:
    """The lists in force, their version checked at most every ``check_every_s``; None until
    they have been read once. ``on_error`` is called on each failed Redis call (a metric)."""

    def __init__(
        self,
        store: ListStore,
        *,
        check_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self._store, self._every, self._clock = store, check_every_s, clock
        self._on_error = on_error
        self._checked = -float("inf")
        self._lists: ListSnapshot | None = None
        self._failing = False

    def __call__(self) -> ListSnapshot | None:
        now = self._clock()
        if now - self._checked >= self._every:
            self._checked = now
            self._maybe_reload()
        return self._lists

    def _maybe_reload(self) -> None:
        in_force = self._lists.version if self._lists is not None else None
        try:
            moved = self._store.version() != in_force
            lists = self._store.snapshot() if moved else self._lists
        except StoreUnavailable as exc:
            self._on_error()
            if not self._failing:
                keeping = "no lists yet" if in_force is None else f"version {in_force} in force"
                log.error("cannot read the allow and block lists: %s; %s", exc, keeping)
            self._failing = True
            return
        if self._failing:
            log.info("the allow and block lists can be read again")
            self._failing = False
        if lists is not None and lists.version != in_force:
            log.info("lists version %d in force (%d entries)", lists.version, len(lists.entries()))
        self._lists = lists
