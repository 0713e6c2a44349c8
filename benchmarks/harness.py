"""The real worker as one process (``python -m cli.main worker``), measured from outside.

Saturation (``saturation``):

1. pre-load the backlog (transactions and their labels) into the variant's input topics;
2. start the worker with ``--max-events N``; it joins the group, drains the backlog and exits;
3. read ``fraud.scores`` back: its records carry the broker's append time, so the rate is the
   score records after the first batch over the span from the first to the last one
   (``stats.steady_rate``); process start-up and the group join are outside that span.

Fixed offered rate (``fixed_rate``):

1. start the worker, send a warm-up (model loaded, group joined, script cached) and wait for its
   scores;
2. send the rest at ``rate`` transactions per second on an absolute schedule (``stats.Pacer``),
   recording each input's create timestamp from its delivery report;
3. when the worker has exited, read the scores back; latency = score's append time - input's
   create time, joined on the input's (partition, offset) the score record names.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer

from benchmarks.data import count_tx, split_at
from benchmarks.infra import (
    BenchError,
    RecordCounter,
    load_input,
    producer,
    score_times,
    send,
    settings_env,
)
from benchmarks.report import VariantResult
from benchmarks.stats import Pacer, Position, join_latencies, offered_rate, steady_rate, summarize
from core.kafka import DeliveryTracker
from core.settings import Settings
from models.scorer import Backend
from simulator.events import Outgoing

Tick = Callable[[int], None]  # progress: outputs so far


@dataclass(frozen=True)
class Exited:
    returncode: int
    wall_s: float
    cpu_s: float


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class WorkerProcess:
    """One worker subprocess with this variant's settings; its log goes to ``log_path``.

    ``command`` replaces the default ``python -m cli.main worker --max-events N --backend B``
    (the profiler runs ``python -m worker.profile``).
    """

    def __init__(
        self,
        s: Settings,
        *,
        max_events: int,
        backend: Backend,
        log_path: Path,
        command: Sequence[str] = (),
    ) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log = log_path.open("wb")
        args = ["worker", "--max-events", str(max_events), "--backend", backend]
        self._cpu0, self._t0 = _children_cpu(), time.monotonic()
        self.started_ms = time.time() * 1000  # wall clock, comparable to Kafka timestamps
        self.proc = subprocess.Popen(
            list(command) or [sys.executable, "-m", "cli.main", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **settings_env(s), "FRAUDSCORE_LOG_LEVEL": "INFO"},
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def failure(self) -> BenchError:
        """The worker's exit as one line: its first error line, else its last line."""
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        errors = [line for line in lines if "error" in line.lower()]
        last = (errors or lines or ["no output"])[0 if errors else -1][:300]
        return BenchError(
            f"the worker exited with {self.proc.returncode}: {last} (log: {self.log_path})"
        )

    def stop(self) -> None:
        """SIGTERM (the worker finishes its batch and commits), then kill after 30 s."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def wait(self, timeout_s: float, tick: Callable[[], None] = lambda: None) -> Exited:
        """Wait for the worker to exit by itself (``--max-events``); stop it past the deadline."""
        deadline = time.monotonic() + timeout_s
        while self.alive() and time.monotonic() < deadline:
            tick()
            time.sleep(0.25)
        self.stop()
        exited = Exited(
            self.proc.returncode, time.monotonic() - self._t0, _children_cpu() - self._cpu0
        )
        if exited.returncode != 0:
            raise self.failure()
        return exited


def saturation(
    s: Settings,
    records: Sequence[Outgoing],
    *,
    backend: Backend,
    log_dir: Path,
    loaded: Tick,
    scored: Tick,
    key: str = "worker",
    name: str = "worker, saturation",
) -> VariantResult:
    n = count_tx(records)
    load_input(s, records, loaded)
    worker = WorkerProcess(s, max_events=n, backend=backend, log_path=log_dir / f"{key}-sat.log")
    outputs = RecordCounter(s, s.topic_scores)
    try:
        exited = worker.wait(120 + n / 200, lambda: scored(outputs()))
    finally:
        worker.stop()
        outputs.close()
    times, _, dups = score_times(s)
    rate = steady_rate(times)
    unscored = (
        f"; {n - len(times):,} events NOT scored before the deadline" if len(times) < n else ""
    )
    return VariantResult(
        key=key,
        name=name,
        events=n,
        outputs=len(times),
        events_per_s=rate.events_per_s if rate else None,
        duplicates=dups,
        wall_s=exited.wall_s,
        cpu_s=exited.cpu_s,
        note=f"process ran {exited.wall_s:.1f} s, {exited.cpu_s:.1f} s CPU; first score "
        f"{(min(times, default=0) - worker.started_ms) / 1000:.1f} s after spawning it (imports, "
        f"model, checks, group join, first batch); rate over the {rate.seconds if rate else 0:.2f}"
        f" s between its first and last score record{unscored}",
    )


class _Sent:
    """Delivery reports of the paced inputs: (partition, offset) -> create timestamp."""

    def __init__(self) -> None:
        self.at: dict[Position, int] = {}
        self.error: KafkaError | None = None

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.error = self.error or err
            return
        self.at[(msg.partition() or 0, msg.offset() or 0)] = msg.timestamp()[1]


def _wait_for(outputs: RecordCounter, n: int, worker: WorkerProcess, timeout_s: float) -> None:
    """Until the worker has scored ``n`` records; its exit or the timeout raise."""
    deadline = time.monotonic() + timeout_s
    while outputs() < n:
        if not worker.alive():
            raise worker.failure()
        if time.monotonic() > deadline:
            raise BenchError(
                f"the worker scored {outputs()} of {n} warm-up events in {timeout_s:.0f} s "
                f"(log: {worker.log_path})"
            )
        time.sleep(0.1)


def fixed_rate(
    s: Settings,
    records: Sequence[Outgoing],
    *,
    key: str,
    name: str,
    rate: float,
    warmup_tx: int,
    backend: Backend,
    log_dir: Path,
    sent_tick: Tick,
) -> VariantResult:
    warmup, paced = split_at(records, warmup_tx)
    total = count_tx(records)
    worker = WorkerProcess(
        s, max_events=total, backend=backend, log_path=log_dir / f"worker-{key}.log"
    )
    p, tracker, sent = producer(s, linger_ms=1), DeliveryTracker(), _Sent()
    outputs = RecordCounter(s, s.topic_scores)
    try:
        for rec in warmup:
            send(p, s, rec, tracker)
        left = p.flush(60)
        tracker.check()
        if left:
            raise BenchError(f"{left} warm-up records not acknowledged within 60 s")
        _wait_for(outputs, count_tx(warmup), worker, timeout_s=180)
        first, last, n = _pace(p, s, paced, rate, sent, tracker, sent_tick)
        if p.flush(60) or sent.error is not None:
            raise BenchError(f"paced inputs not acknowledged: {sent.error}")
        exited = worker.wait(120 + total / 500)
    finally:
        worker.stop()
        outputs.close()
    _, pairs, dups = score_times(s)
    joined = join_latencies(sent.at, pairs)
    # the paced events' output rate: the offered rate, unless the worker could not keep up
    done = steady_rate([t for pos, t in pairs if pos in sent.at])
    return VariantResult(
        key=key,
        name=name,
        events=n,
        outputs=n - joined.missing,
        events_per_s=done.events_per_s if done else None,
        offered_per_s=offered_rate(n, first, last),
        latency=summarize(joined.latencies_ms),
        missing=joined.missing,
        duplicates=dups,
        wall_s=exited.wall_s,
        cpu_s=exited.cpu_s,
        note=f"{warmup_tx:,} warm-up events first, not counted; "
        f"{n:,} events paced at {rate:,.0f}/s over {last - first:.1f} s",
    )


def send_paced(s: Settings, records: Sequence[Outgoing], rate: float, tick: Tick) -> int:
    """Send ``records`` at ``rate`` transactions per second; the number of transactions sent."""
    p, tracker, sent = producer(s, linger_ms=1), DeliveryTracker(), _Sent()
    _, _, n = _pace(p, s, records, rate, sent, tracker, tick)
    if p.flush(60) or sent.error is not None:
        raise BenchError(f"paced inputs not acknowledged: {sent.error}")
    tracker.check()
    return n


def _pace(
    p: Producer,
    s: Settings,
    paced: Sequence[Outgoing],
    rate: float,
    sent: _Sent,
    tracker: DeliveryTracker,
    tick: Tick,
) -> tuple[float, float, int]:
    """Send transactions on the schedule (labels ride along unpaced); first/last send times."""
    pacer, n = Pacer(rate, time.monotonic()), 0
    first = last = pacer.started
    for rec in paced:
        if rec.kind != "transaction":
            send(p, s, rec, tracker)
            continue
        while (wait := pacer.wait_s(n, time.monotonic())) > 0:
            # Sleep, not ``p.poll(wait)``: librdkafka rounds a wait under 1 ms down to 0, so at
            # 2,000/s (0.5 ms apart) polling spun a whole core of the machine under test.
            time.sleep(wait)
        p.poll(0)  # delivery reports
        last = time.monotonic()
        first = last if n == 0 else first
        send(p, s, rec, sent)
        n += 1
        if n % 1000 == 0:
            tick(n)
    tick(n)
    return first, last, n
