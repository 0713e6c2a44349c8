"""Where the worker's time goes: the real loop under cProfile, broken down by stage.

The loop runs in this process (``worker.loop.Worker``, built with ``worker.run``'s start-up
checks), either on a pre-loaded backlog (saturation) or while a thread sends the input at a fixed
rate (only the loop's thread is profiled). ``ProfilingHealth.beat`` switches the profiler on at
the first loop turn after the partitions are assigned (the loop beats once per turn), so start-up,
model loading and the group join are outside it; it stays on until the loop has closed its
clients. Times are wall-clock: waits on the broker and on Redis count, as they do for throughput.

cProfile adds a cost to every Python call, so the profiled loop is slower than the real one:
read the shares, not the absolute rate.
"""

from __future__ import annotations

import cProfile
import pstats
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.data import count_tx
from benchmarks.infra import load_input
from benchmarks.report import ProfileResult, Stage
from core.kafka import check_topics
from core.settings import Settings
from features.open import open_store
from models.scorer import Backend
from models.serving import ModelSource
from simulator.events import Outgoing
from worker.loop import Worker
from worker.metrics import Health, WorkerMetrics
from worker.run import worker_topics

FuncKey = tuple[str, int, str]
RawStats = dict[FuncKey, tuple[Any, ...]]  # pstats.Stats.stats: (cc, nc, tt, ct, callers)
# (file path suffix, function name, only the calls made straight from the loop); "~" = C code
Where = tuple[str, str, bool]

STAGES: tuple[tuple[str, tuple[Where, ...]], ...] = (
    (
        "apply labels (label consumer, watermark requests)",
        (("worker/labels.py", "drain", False),),
    ),
    ("consume (fetch wait + hand-over)", (("~", "'consume' of", True),)),
    ("messages -> records", (("core/records.py", "to_records", True),)),
    ("decode + validate (pydantic)", (("core/intake.py", "split", False),)),
    ("enrich (Redis, one Lua call per batch)", (("worker/loop.py", "_enrich", False),)),
    ("feature matrix", (("decision/features.py", "feature_matrix", False),)),
    ("predict (one call per batch)", (("models/serving.py", "predict", False),)),
    ("reasons (TreeSHAP, alerts only)", (("models/serving.py", "reasons", False),)),
    ("route + serialize outputs (pydantic JSON)", (("decision/outputs.py", "route", False),)),
    ("produce + wait for acks", (("worker/loop.py", "_publish", False),)),
    ("store offsets", (("worker/loop.py", "_commit_batch", False),)),
    (
        "event-time alignment (Redis + watermarks)",
        (
            ("worker/alignment.py", "observe", False),
            ("worker/alignment.py", "rebalance_pauses", False),
        ),
    ),
    (
        "metrics + bad-input guard",
        (("worker/loop.py", "_count", False), ("worker/loop.py", "observe", False)),
    ),
    ("model source check", (("models/serving.py", "__call__", False),)),
    ("close (flush, commit, leave group)", (("worker/loop.py", "_close", False),)),
)
# Stages that contain others: their own figure is net of the inner ones.
NESTED = {
    "route + serialize outputs (pydantic JSON)": (
        "predict (one call per batch)",
        "reasons (TreeSHAP, alerts only)",
    ),
    "store offsets": ("produce + wait for acks",),
}


class ProfilingHealth(Health):
    """Switches the profiler on at the first loop turn with partitions assigned."""

    def __init__(self, profiler: cProfile.Profile) -> None:
        super().__init__()
        self.profiler = profiler
        self.started: tuple[float, float] | None = None  # (wall, cpu)

    def beat(self) -> None:
        super().beat()
        if self.assigned and self.started is None:
            self.started = (time.perf_counter(), time.process_time())
            self.profiler.enable()


def _matches(key: FuncKey, where: Where) -> bool:
    path, _, name = key
    suffix, func, _ = where
    if suffix == "~":
        return path == "~" and func in name
    return name == func and path.replace("\\", "/").endswith(suffix)


def _top_level(entry: tuple[Any, ...]) -> float:
    """Cumulative time of the calls made straight from the loop.

    The loop's own frame was entered before the profiler started, so its calls have no recorded
    caller: what is left after the recorded callers' shares is theirs (e.g. the main consumer's
    ``consume``, not the label consumer's, which ``LabelFeed.drain`` calls).
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
    model = ModelSource(s.model_dir, backend=backend)
    store = open_store(s)
    check_topics(s, worker_topics(s))
    profiler = cProfile.Profile()
    health = ProfilingHealth(profiler)
    worker = Worker(s, model, store, WorkerMetrics(), health)
    feeder = _Feeder(feed) if feed else None
    try:
        stats = worker.run(threading.Event(), max_events=n, idle_timeout_s=60)
    finally:
        profiler.disable()
        if feeder:
            feeder.join()
    wall_end, cpu_end = time.perf_counter(), time.process_time()
    wall0, cpu0 = health.started or (wall_end, cpu_end)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(out_path)
    raw: RawStats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    seconds = wall_end - wall0
    return ProfileResult(
        label=label,
        events=stats.consumed,
        seconds=seconds,
        cpu_s=cpu_end - cpu0,
        stages=breakdown(raw, seconds, stats.consumed),
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
