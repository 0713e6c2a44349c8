"""The worker under cProfile, as a process of its own: ``python -m worker.profile OUT ...``.

``fraudscore bench`` runs this instead of the plain worker to see where the loop's time goes
(``benchmarks/profiling.py`` reads the result). Settings come from the environment, as for the
worker. ``ProfilingHealth.beat`` switches the profiler on at the first loop turn after the
partitions are assigned (the loop beats once per turn), so start-up, model loading and the group
join are outside it; it stays on until the loop has closed its clients.

Writes the pstats dump to OUT and ``OUT.json``: events consumed, and the wall and CPU seconds
the profiler was on.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import time
from pathlib import Path

from core.logs import setup_logging
from core.settings import Settings
from worker.metrics import Health
from worker.run import run


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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m worker.profile", description=__doc__)
    ap.add_argument("out", type=Path, help="where to write the pstats dump")
    ap.add_argument("--max-events", type=int, required=True)
    ap.add_argument("--backend", default="lightgbm")
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    args = ap.parse_args(argv)
    settings = Settings()
    setup_logging(settings.log_level, settings.worker_id, settings.log_format)
    profiler = cProfile.Profile()
    health = ProfilingHealth(profiler)
    try:
        stats = run(
            settings,
            backend=args.backend,
            max_events=args.max_events,
            idle_timeout_s=args.idle_timeout,
            health=health,
        )
    finally:
        profiler.disable()
    wall_end, cpu_end = time.perf_counter(), time.process_time()
    wall0, cpu0 = health.started or (wall_end, cpu_end)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(args.out)
    summary = {"consumed": stats.consumed, "seconds": wall_end - wall0, "cpu_s": cpu_end - cpu0}
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(summary))


if __name__ == "__main__":
    main()
