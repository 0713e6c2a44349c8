"""Where the worker's time goes: the real loop under cProfile, broken down by stage.

The loop runs in a worker process of its own (``python -m worker.profile``: the real start-up
and loop, profiled from the first loop turn with partitions assigned until its clients are
closed), either on a pre-loaded backlog (saturation) or while a thread of this process sends the
input at a fixed rate. Times are wall-clock: waits on the broker and on Redis count, as they do
for throughput.

cProfile adds a cost to every Python call, so the profiled loop is slower than the real one:
read the shares, not the absolute rate.
"""

from __future__ import annotations

import json
import pstats
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.data import count_tx
from benchmarks.harness import WorkerProcess
from benchmarks.infra import load_input
from benchmarks.report import ProfileResult, Stage
from core.settings import Settings
from models.scorer import Backend
from simulator.events import Outgoing

FuncKey = tuple[str, int, str]
RawStats = dict[FuncKey, tuple[Any, ...]]  # pstats.Stats.stats: (cc, nc, tt, ct, callers)
# (file path suffix, function name, only the calls made straight from the loop)
Where = tuple[str, str, bool]

STAGES: tuple[tuple[str, tuple[Where, ...]], ...] = (
    (
        "apply labels (label consumer, watermark requests)",
        (("worker/labels.py", "drain", False),),
    ),
    ("consume (fetch wait + hand-over)", (("core/kafka.py", "poll_batch", False),)),
    ("messages -> records", (("core/records.py", "to_records", True),)),
    ("decode + validate (pydantic)", (("core/intake.py", "split", False),)),
    ("enrich (Redis, one Lua call per batch)", (("worker/loop.py", "_enrich", False),)),
    ("feature matrix", (("decision/features.py", "feature_matrix", False),)),
    ("predict (one call per batch)", (("models/serving.py", "predict", False),)),
    ("reasons (TreeSHAP, alerts only)", (("models/serving.py", "reasons", False),)),
    ("route + serialize outputs (pydantic JSON)", (("decision/outputs.py", "route", False),)),
    ("produce + wait for acks", (("worker/commit.py", "publish", False),)),
    ("commit (offsets stored, or the transaction)", (("worker/commit.py", "commit", False),)),
    (
        "event-time alignment (Redis + watermarks)",
        (
            ("worker/alignment.py", "observe", False),
            ("worker/alignment.py", "rebalance_pauses", False),
        ),
    ),
    (
        "metrics + bad-input guard",
        (("worker/loop.py", "_count", False), ("worker/guard.py", "observe", False)),
    ),
    ("model source check", (("models/serving.py", "__call__", False),)),
    ("close (flush, commit, leave group)", (("worker/loop.py", "_close", False),)),
)
# Stages that contain others: their own figure is net of the inner ones.
NESTED = {
    "commit (offsets stored, or the transaction)": ("produce + wait for acks",),
}


def _matches(key: FuncKey, where: Where) -> bool:
    path, _, name = key
    suffix, func, _ = where
    return name == func and path.replace("\\", "/").endswith(suffix)


def _top_level(entry: tuple[Any, ...]) -> float:
    """Cumulative time of the calls made straight from the loop.

    The loop's own frame was entered before the profiler started, so its calls have no recorded
    caller: what is left after the recorded callers' shares is theirs (e.g. ``to_records`` as
    the loop calls it, not as a nested helper would).
    """
    callers: dict[Any, tuple[Any, ...]] = entry[4]
    return float(entry[3]) - sum(float(c[3]) for c in callers.values())


def stage_seconds(raw: RawStats) -> dict[str, float]:
    """Wall seconds per stage (``STAGES``), nested stages netted out."""
    out: dict[str, float] = {}
    for name, wheres in STAGES:
        total = 0.0
        for key, entry in raw.items():
            for where in wheres:
                if _matches(key, where):
                    total += _top_level(entry) if where[2] else float(entry[3])
        out[name] = total
    for outer, inner in NESTED.items():
        out[outer] -= sum(out[i] for i in inner)
    return out


def breakdown(raw: RawStats, seconds: float, events: int) -> list[Stage]:
    """Stages with their share of the loop's wall time; what no stage explains is "other"."""
    per = stage_seconds(raw)
    per["other (loop glue, idle polls, timers)"] = max(0.0, seconds - sum(per.values()))
    return [
        Stage(name, secs, secs / seconds if seconds else 0.0, secs / events * 1e6 if events else 0)
        for name, secs in per.items()
    ]


def top_functions(raw: RawStats, n: int = 12) -> list[tuple[str, float]]:
    ranked = sorted(raw.items(), key=lambda kv: float(kv[1][2]), reverse=True)[:n]
    return [(f"{path}:{line}({name})", float(entry[2])) for (path, line, name), entry in ranked]


def profile_worker(
    s: Settings,
    records: Sequence[Outgoing],
    *,
    label: str,
    backend: Backend,
    out_path: Path,
    loaded: Callable[[int], None] | None = None,
    feed: Callable[[], object] | None = None,
) -> ProfileResult:
    """Profile the loop over ``records``: pre-loaded (``feed`` None: saturation), or sent while
    it runs by ``feed`` in a thread (a fixed offered rate; that thread is not profiled)."""
    n = count_tx(records)
    if feed is None:
        load_input(s, records, loaded)
    command = [sys.executable, "-m", "worker.profile", str(out_path), "--max-events", str(n)]
    command += ["--backend", backend, "--idle-timeout", "60"]
    log_path = out_path.with_suffix(".log")
    worker = WorkerProcess(s, max_events=n, backend=backend, log_path=log_path, command=command)
    feeder = _Feeder(feed) if feed else None
    try:
        worker.wait(180 + n / 100)
    finally:
        worker.stop()
        if feeder:
            feeder.join()
    ran = json.loads(out_path.with_name(out_path.name + ".json").read_text())
    raw: RawStats = pstats.Stats(str(out_path)).stats  # type: ignore[attr-defined]
    seconds, events = float(ran["seconds"]), int(ran["consumed"])
    return ProfileResult(
        label=label,
        events=events,
        seconds=seconds,
        cpu_s=float(ran["cpu_s"]),
        stages=breakdown(raw, seconds, events),
        top_functions=top_functions(raw),
        stats_file=str(out_path),
    )


class _Feeder:
    """Runs ``feed`` in a thread; ``join`` re-raises what it raised."""

    def __init__(self, feed: Callable[[], object]) -> None:
        self.error: BaseException | None = None
        self._feed = feed
        self._thread = threading.Thread(target=self._run, name="bench-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._feed()
        except BaseException as exc:  # surfaced in the profiling thread by ``join``
            self.error = exc

    def join(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise self.error
