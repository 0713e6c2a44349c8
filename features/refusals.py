"""What the store refuses in a batch, told from Redis failing: a key of the wrong type or a
script error on an event's values (``StoreRefused``), and an event id reused with other
content; ``isolate_refused`` finds those events and leaves them out of the batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import redis

from features.registry import RAW_COLUMNS

if TYPE_CHECKING:
    from features.online import StoreEvent


class StoreRefused(Exception):
    """The script failed on what a batch holds (not on Redis): ``reason`` says what, without
    ids (a key of the wrong type, say, left by an older key layout or by hand)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refusal_of(exc: Exception) -> str | None:
    """What in the data the script failed on, or None when the failure is Redis itself.

    Only a plain error reply qualifies, and only a wrong key type or a Lua runtime error: out of
    memory, a read-only replica and script cache errors are subclasses, and a server's refusal
    (a non-local key on a cluster node: a client misconfigured) mean the server, not the event.
    """
    if type(exc) is not redis.ResponseError:
        return None
    text = str(exc)
    if text.startswith("WRONGTYPE"):
        return "the feature store holds a key of another type for this event's customer or terminal"
    if text.startswith("user_script:"):  # a Lua runtime error on the values it was given
        return "the feature store's script failed on this event: " + text.split(" script:")[0]
    return None


DUPLICATE = (
    "event id already used by an event with other content (customer, terminal, time, amount or "
    "another field differ); that first event's features stand: give this one an id of its own"
)


class Refusal(NamedTuple):
    """Why the store left an event out: ``store`` for what its keys hold, ``duplicate`` for an
    event id seen before with other content."""

    stage: Literal["store", "duplicate"]
    reason: str


Raw = npt.NDArray[np.float64]


def isolate_refused(
    apply: Callable[[Sequence[StoreEvent]], tuple[Raw, Sequence[int]]],
    events: Sequence[StoreEvent],
) -> tuple[Raw, dict[int, Refusal]]:
    """``apply`` over ``events``, except that events the store refuses for what they hold
    (``StoreRefused``) are found and left out instead of failing the batch, and so are those
    ``apply`` reports as conflicting duplicates (their ids' indices, second of its pair).

    The batch is split in halves until each refusal is one event: log2 of the batch in extra
    calls, only when one occurs, and events already applied get their cached answer back. A
    refused event's row is zeros and the dict maps its index to why. Redis being down or slow
    is still ``StoreUnavailable``.
    """
    raw = np.zeros((len(events), len(RAW_COLUMNS)), dtype=np.float64)
    refused: dict[int, Refusal] = {}
    pending = [(0, len(events))]
    while pending:
        lo, hi = pending.pop()
        try:
            raw[lo:hi], conflicts = apply(events[lo:hi])
        except StoreRefused as exc:
            if hi - lo == 1:
                refused[lo] = Refusal("store", exc.reason)
            else:
                mid = (lo + hi) // 2
                pending += [(mid, hi), (lo, mid)]
            continue
        for i in conflicts:
            refused[lo + i] = Refusal("duplicate", DUPLICATE)
            raw[lo + i] = 0.0
    return raw, dict(sorted(refused.items()))
