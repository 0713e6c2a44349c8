"""The watchdog that ends a worker stuck inside a librdkafka call (worker/watchdog.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from worker.watchdog import EXIT_STUCK, Watchdog


class Overruns:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.fired = threading.Event()

    def __call__(self, what: str, limit_s: float) -> None:
        self.calls.append((what, limit_s))
        self.fired.set()


def test_a_block_that_outlives_its_limit_is_reported_once() -> None:
    seen = Overruns()
    dog = Watchdog(seen)
    try:
        with dog.guard("send_offsets_to_transaction", 0.05):
            assert seen.fired.wait(2), "the overrun was not reported"
            time.sleep(0.1)  # still inside the block: no second report
        assert seen.calls == [("send_offsets_to_transaction", 0.05)]
    finally:
        dog.close()


def test_blocks_that_finish_in_time_are_never_reported() -> None:
    seen = Overruns()
    dog = Watchdog(seen)
    try:
        for _ in range(200):
            with dog.guard("commit_transaction", 0.2):
                pass
        time.sleep(0.3)  # past the limit of the last guard
        assert seen.calls == []
        with dog.guard("abort_transaction", 0.05):  # and it still watches afterwards
            assert seen.fired.wait(2)
        assert seen.calls == [("abort_transaction", 0.05)]
    finally:
        dog.close()


def test_each_guard_has_its_own_deadline() -> None:
    seen = Overruns()
    dog = Watchdog(seen)
    try:
        with dog.guard("a", 0.15):
            time.sleep(0.1)
        with dog.guard("b", 0.15):  # would have overrun had a's deadline carried over
            time.sleep(0.1)
        time.sleep(0.1)
        assert seen.calls == []
    finally:
        dog.close()


def test_the_default_ends_the_process_with_exit_stuck_and_says_why() -> None:
    code = (
        "import logging, time\n"
        "from worker.watchdog import Watchdog\n"
        "logging.basicConfig()\n"
        "with Watchdog().guard('send_offsets_to_transaction', 0.1):\n"
        "    time.sleep(30)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_STUCK
    assert time.monotonic() - started < 20, "the stuck block was waited out, not cut short"
    assert "send_offsets_to_transaction has not returned after 0.1 s" in done.stderr
