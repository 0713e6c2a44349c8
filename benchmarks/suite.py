"""The whole benchmark, step by step; each variant on its own topics, group and Redis prefix.

1. check Kafka, Redis and the model (a small one is trained if the registry is empty);
2. simulate the traffic once (``data.build``);
3. passthrough at saturation (the Kafka ceiling);
4. the worker process at saturation, then again under a 50-rule policy (``policies``);
5. the naive implementation at saturation (fewer events: it is slow), then the competent
   per-event one (``competent``: one Redis round trip per event, async produce);
6. the worker process at the target offered rate (2,000/s); then offered 1.5x its saturation
   rate (the rate it keeps up with while the load generator runs: loaded saturation), and at
   50% and ``near_saturation`` (80%) of that;
7. a cProfile of the worker loop, by stage;
7b. redis-server CPU per event of the store alone: one instance, and a 3-node cluster with the
    keys spread over slots (``store_cpu``, on servers started for it);
8. delete the run's Redis keys (topics are deleted after each variant) unless ``keep``.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks import data, drift_step, harness, infra, policies, report
from benchmarks.competent import run_competent
from benchmarks.naive import run_naive
from benchmarks.passthrough import run_passthrough
from benchmarks.profiling import profile_worker
from benchmarks.rebuild_step import run_rebuild
from benchmarks.store_cpu import REPEATS, StoreCpuResult, bar_ticks, run_store_cpu
from core.settings import Settings
from models import registry
from models.bundle import load_bundle
from models.scorer import Backend
from simulator.events import Outgoing

OVERLOAD = 1.5  # the loaded saturation run offers this much of the backlog run's rate


@dataclass(frozen=True)
class BenchOptions:
    events: int = 60_000  # backlog of the saturation runs
    rate: float = 2000.0  # offered rate of the latency run
    duration: float = 20.0
    near_saturation: float = 0.8  # second latency run at this share of saturation, 0: skip
    near_duration: float = 10.0
    naive_events: int = 2000
    competent_events: int = 6000
    profile_events: int = 20_000  # 0: skip
    rules: int = 50  # the rules row's policy size, 0: skip
    store_cpu: bool = True  # redis-server CPU per event: one instance, and a 3-node cluster
    warmup: int = 500
    customers: int = 1000
    history_days: int = 30
    seed: int = 7
    backend: Backend = "lightgbm"
    model_dir: Path | None = None  # None: the settings' registry
    out_dir: Path = Path("var/bench")
    keep: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@contextmanager
def step(progress: Progress, label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar for one step; yields ``advance(completed)``."""
    task = progress.add_task(label, total=total)
    yield lambda n: progress.update(task, completed=n)
    progress.update(task, completed=total)


def run_bench(o: BenchOptions, console: Console, command: str) -> report.Report:
    t0, started, load_start = time.monotonic(), datetime.now(UTC), report.load()
    base = Settings()
    model_dir = o.model_dir or base.model_dir
    infra.check_kafka(base)
    redis_version = infra.check_redis(base)
    version = data.ensure_model(model_dir, console, o.seed)
    needed = max(
        o.events,
        o.warmup + int(o.rate * o.duration),
        o.naive_events,
        o.competent_events,
        o.profile_events,
    )
    with console.status(f"simulating {o.customers:,} customers, {needed:,} events to replay"):
        d = data.build_at_least(
            customers=o.customers, events=needed, history_days=o.history_days, seed=o.seed
        )
    runner = Runner(base, model_dir, version, d, o)
    columns = (TextColumn("{task.description:<36}"), BarColumn(), MofNCompleteColumn())
    with runner.cleanup(console), Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        variants = runner.variants(bar)
        profiles = runner.profiles(bar) if o.profile_events else []
        store = runner.store_cpu(bar) if o.store_cpu else []
    with console.status("timing one drift report over a 10,000-sample window"):
        drift = drift_step.time_drift_report(model_dir, version, o.seed)
    machine = report.Machine(
        cores=os.cpu_count() or 0,
        load_start=load_start,
        load_end=report.load(),
        platform=platform.platform(),
        python=sys.version.split()[0],
        kafka=base.kafka_bootstrap_servers,
        redis=f"{redis_version} at {base.redis_url}",
        versions=report.versions(),
    )
    options = o.as_dict() | {
        "model_version": version,
        "run_id": runner.run_id,
        "days": d.config.n_days,
        "history_events": len(d.history),
        "stream_transactions": d.transactions,
        "batch_max_events": base.batch_max_events,
        "batch_max_ms": base.batch_max_ms,
    }
    return report.Report(
        command=command,
        started_at=started.isoformat(timespec="seconds"),
        duration_s=time.monotonic() - t0,
        machine=machine,
        options=options,
        target_rate=o.rate,
        variants=variants,
        profiles=profiles,
        drift=drift,
        store_cpu=store,
    )


class Runner:
    """Runs each variant with the shared data on its own topics and Redis prefix."""

    def __init__(
        self, base: Settings, model_dir: Path, version: str, d: data.BenchData, o: BenchOptions
    ) -> None:
        self.base, self.model_dir, self.version, self.d, self.o = base, model_dir, version, d, o
        self.run_id = uuid4().hex[:6]
        self.log_dir = o.out_dir / "logs"

    @contextmanager
    def cleanup(self, console: Console) -> Iterator[None]:
        """Delete the run's Redis keys at the end: one keyspace scan for all variants."""
        try:
            yield
        finally:
            if not self.o.keep:
                with console.status("deleting the run's Redis keys"):
                    infra.clear_keys(self.base, f"bench-{self.run_id}-")

    @contextmanager
    def variant(self, short: str, *, redis: bool = True) -> Iterator[Settings]:
        name = f"bench-{self.run_id}-{short}"
        with infra.variant(self.base, name, self.model_dir, keep=self.o.keep) as s:
            if redis:
                infra.seed_history(s, self.d.history, self.d.history_labels)
            yield s

    def variants(self, bar: Progress) -> list[report.VariantResult]:
        o = self.o
        backlog = data.take(self.d.stream, o.events)
        n = data.count_tx(backlog)
        results = [self.passthrough(bar, backlog)]
        with (
            self.variant("sat") as s,
            step(bar, "load worker backlog", len(backlog)) as loaded,
            step(bar, "worker at saturation", n) as scored,
        ):
            sat = harness.saturation(
                s, backlog, backend=o.backend, log_dir=self.log_dir, loaded=loaded, scored=scored
            )
            rebuilt = self.rebuild(bar, s, n, sat.events_per_s)
        results += [sat, rebuilt]
        if o.rules:
            results.append(self.with_rules(bar, backlog))
        results.append(self.naive(bar))
        results.append(self.competent(bar))
        results.append(
            self.fixed(bar, "worker_target_rate", f"worker @ {o.rate:,.0f}/s", o.rate, "rate")
        )
        if o.near_saturation > 0 and sat.events_per_s:
            # saturation with the load generator competing for the CPU: offered 1.5x what the
            # backlog run gave, the output rate is what the worker keeps up with
            over = self.fixed(
                bar,
                "worker_loaded_saturation",
                "worker, saturation, load generator running",
                OVERLOAD * sat.events_per_s,
                "over",
                duration=o.events / (OVERLOAD * sat.events_per_s),
            )
            results.append(over)
            capacity = over.events_per_s or sat.events_per_s
            for share, key, short in (
                (0.5, "worker_half_saturation", "half"),
                (o.near_saturation, "worker_near_saturation", "near"),
            ):
                name = f"worker @ {share:.0%} of loaded saturation"
                results.append(self.fixed(bar, key, name, share * capacity, short))
        return results

    def rebuild(
        self, bar: Progress, scored: Settings, n: int, worker_rate: float | None
    ) -> report.VariantResult:
        """The saturation run's topics replayed into an empty namespace (rebuild_step)."""
        target = scored.model_copy(update={"redis_key_prefix": f"bench-{self.run_id}-rb"})
        with step(bar, "feature rebuild, empty store", n) as done:
            return run_rebuild(target, n, worker_rate, done)

    def with_rules(self, bar: Progress, backlog: list[Outgoing]) -> report.VariantResult:
        """The saturation run again, the worker deciding under an ``o.rules``-rule policy."""
        o, n = self.o, data.count_tx(backlog)
        root = policies.policy_registry(self.model_dir, o.out_dir / "rules-registry", o.rules)
        name = f"bench-{self.run_id}-rules"
        with (
            infra.variant(self.base, name, root, keep=o.keep) as s,
            step(bar, "load rules backlog", len(backlog)) as loaded,
            step(bar, f"worker + {o.rules} rules, saturation", n) as scored,
        ):
            infra.seed_history(s, self.d.history, self.d.history_labels)
            return harness.saturation(
                s,
                backlog,
                backend=o.backend,
                log_dir=self.log_dir,
                loaded=loaded,
                scored=scored,
                key="worker_rules",
                name=f"worker + {o.rules} rules, saturation",
            )

    def passthrough(self, bar: Progress, backlog: list[Outgoing]) -> report.VariantResult:
        n = data.count_tx(backlog)
        with (
            self.variant("pt", redis=False) as s,
            step(bar, "load passthrough", n) as loaded,
            step(bar, "passthrough", n) as copied,
        ):
            return run_passthrough(s, backlog, loaded=loaded, copied=copied)

    def naive(self, bar: Progress) -> report.VariantResult:
        return self.per_event(bar, "naive", "naive", self.o.naive_events, run_naive)

    def competent(self, bar: Progress) -> report.VariantResult:
        return self.per_event(
            bar, "comp", "competent per-event", self.o.competent_events, run_competent
        )

    def per_event(
        self, bar: Progress, short: str, label: str, events: int, run: Callable[..., Any]
    ) -> report.VariantResult:
        """A baseline loop in this process over ``events`` of the stream, pre-loaded."""
        bundle = load_bundle(registry.bundle_path(self.model_dir, self.version))
        records = data.take(self.d.stream, events)
        with (
            self.variant(short) as s,
            step(bar, f"load {label}", len(records)) as loaded,
            step(bar, label, data.count_tx(records)) as scored,
        ):
            result: report.VariantResult = run(s, bundle, records, loaded=loaded, scored=scored)
            return result

    def fixed(
        self,
        bar: Progress,
        key: str,
        name: str,
        rate: float,
        short: str,
        duration: float | None = None,
    ) -> report.VariantResult:
        o = self.o
        if duration is None:
            duration = o.duration if key == "worker_target_rate" else o.near_duration
        records = data.take(self.d.stream, o.warmup + int(rate * duration))
        paced = data.count_tx(records) - o.warmup
        with self.variant(short) as s, step(bar, f"{name}: sent", paced) as sent:
            return harness.fixed_rate(
                s,
                records,
                key=key,
                name=name,
                rate=rate,
                warmup_tx=o.warmup,
                backend=o.backend,
                log_dir=self.log_dir,
                sent_tick=sent,
            )

    def store_cpu(self, bar: Progress) -> list[StoreCpuResult]:
        """The history through the store on redis-servers of its own (benchmarks.store_cpu)."""
        return run_store_cpu(
            self.d.history,
            self.d.history_labels,
            batch=self.base.batch_max_events,
            tick=bar_ticks(bar, REPEATS * len(self.d.history)),
        )

    def profiles(self, bar: Progress) -> list[report.ProfileResult]:
        """The loop profiled at saturation, then at the target offered rate (up to 10 s)."""
        o, out = self.o, self.o.out_dir
        backlog = data.take(self.d.stream, o.profile_events)
        with self.variant("prof") as s, step(bar, "load profile backlog", len(backlog)) as loaded:
            task = bar.add_task("profiling the loop at saturation", total=None)
            sat = profile_worker(
                s,
                backlog,
                label="saturation",
                backend=o.backend,
                out_path=out / "worker-saturation.prof",
                loaded=loaded,
            )
            bar.update(task, total=1, completed=1)
        paced = data.take(self.d.stream, int(o.rate * min(o.duration, 10.0)))
        label = f"{o.rate:,.0f} events/s offered"
        with self.variant("profr") as s, step(bar, f"profiling at {label}: sent", len(paced)) as t:
            at_rate = profile_worker(
                s,
                paced,
                label=label,
                backend=o.backend,
                out_path=out / "worker-rate.prof",
                feed=lambda: harness.send_paced(s, paced, o.rate, t),
            )
        return [sat, at_rate]
