"""Bad input and the loop's counters: dead letters logged, the bad-input guard, rule failures,
stats."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
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


class RuleFailureLog:
    """A rule that fails on events is logged once per rule per ``every_s`` (with the count since
    the last line), not once per event: a rule broken for every event must not flood the log."""

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every, self._clock = every_s, clock
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    def observe(self, failures: Mapping[str, int], policy: str | None) -> None:
        now = self._clock()
        for rule, n in failures.items():
            self._pending[rule] = self._pending.get(rule, 0) + n
            if now - self._last.get(rule, -float("inf")) >= self._every:
                log.warning(
                    "rule %s of policy %s could not be evaluated on %d event(s) (undefined "
                    "arithmetic, e.g. a division by zero); they were decided without it",
                    rule,
                    policy,
                    self._pending.pop(rule),
                )
                self._last[rule] = now
