"""Graceful stop on SIGTERM/SIGINT for every long-running process.

The handler only sets an event: the loop finishes what it is doing (a batch, a report), commits
and leaves its group. ``stop_on_signals`` restores the previous handlers on exit, so an
in-process caller (a test, the demo) gets its own handlers back.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(stop: threading.Event, what: str = "the current batch") -> Iterator[None]:
    """While inside, SIGTERM/SIGINT set ``stop``; a no-op off the main thread (Python delivers
    signals to the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: finishing %s, then stopping", signum, what)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
