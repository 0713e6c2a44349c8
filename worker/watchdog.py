"""A last resort for a librdkafka call that overruns its own timeout by far.

librdkafka's ``send_offsets_to_transaction`` can block well past the timeout it is given: the
deadline of its coordinator request is never checked (librdkafka issue #5456). After a broker
restart we saw it wait for good while the consumer, on the same app thread, waited for the app to
acknowledge its lost partitions: a deadlock, with nothing scored and SIGTERM ignored.

A thread stuck inside a C call cannot be interrupted, so the watchdog ends the process with
``EXIT_STUCK`` and one log line saying why. Nothing is lost by that: the open transaction is
aborted by the broker, or fenced at once by the next instance (it has the same
``transactional.id``), and a ``read_committed`` reader never sees any of it. The supervisor
(compose ``restart: unless-stopped``, a Kubernetes Deployment) starts the worker again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

EXIT_STUCK = 3  # the process exit status when a guarded call overran its limit


def exit_stuck(what: str, limit_s: float) -> None:
    """Log why, flush the logs, and end the process now (the stuck thread never returns)."""
    log.critical(
        "%s has not returned after %g s (librdkafka ignores its timeout here); exiting with "
        "status %d so the worker is restarted: the open transaction is aborted, nothing past the "
        "last committed one is visible to read_committed readers",
        what,
        limit_s,
        EXIT_STUCK,
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_STUCK)


class Watchdog:
    """Calls ``on_overrun(what, limit_s)`` when a ``guard``-ed block outlives its limit.

    One daemon thread for the process's life; arming and disarming cost a lock and a notify.
    """

    def __init__(self, on_overrun: Callable[[str, float], None] = exit_stuck) -> None:
        self._on_overrun = on_overrun
        self._cond = threading.Condition()
        self._armed: tuple[str, float, float] | None = None  # what, deadline, limit
        self._closed = False
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self._thread.start()

    @contextmanager
    def guard(self, what: str, limit_s: float) -> Iterator[None]:
        """Watch the block: if it has not finished ``limit_s`` after it began, ``on_overrun``."""
        with self._cond:
            self._armed = (what, time.monotonic() + limit_s, limit_s)
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._armed = None
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(5)

    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                if self._armed is None:
                    self._cond.wait()
                    continue
                what, deadline, limit_s = self._armed
                left = deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._armed = None
                self._on_overrun(what, limit_s)
