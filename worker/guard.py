"""Bad input and the loop's counters: dead letters logged, the bad-input guard, stats."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from core.records import OutRecord

log = logging.getLogger(__name__)


class Stopping(Exception):
    """The worker was asked to stop while a batch could not finish; it is not committed."""


class BadInputFlood(Exception):
    """Too large a share of recent input was bad: stop instead of dead-lettering everything."""


@dataclass
class WorkerStats:
    consumed: int = 0
    scored: int = 0
    alerts: int = 0
    dead_letters: int = 0
    degraded: int = 0
    batches: int = 0


class BadInputGuard:
    """Tracks the share of bad records over the last ``window`` records."""

    def __init__(self, window: int, max_share: float) -> None:
        self._recent: deque[bool] = deque(maxlen=window)
        self._max_share = max_share

    def observe(self, good: int, bad: int) -> None:
        self._recent.extend([False] * good + [True] * bad)
        if len(self._recent) == self._recent.maxlen:
            share = sum(self._recent) / len(self._recent)
            if share > self._max_share:
                raise BadInputFlood(
                    f"{share:.0%} of the last {len(self._recent)} records were bad (limit "
                    f"{self._max_share:.0%}); stopping. Inspect the dead-letter topic."
                )


def log_dead_letters(dead: Sequence[OutRecord]) -> None:
    """One line per dead letter: where it came from and why, never its content."""
    for out in dead:
        h = dict(out.headers)
        log.warning(
            "dead-lettered",
            extra={
                "topic": h["origin_topic"].decode(),
                "partition": int(h["origin_partition"]),
                "offset": int(h["origin_offset"]),
                "stage": h["stage"].decode(),
                "reason": h["reason"].decode(),  # PAN-masked, no input values
            },
        )
