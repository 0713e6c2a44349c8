"""The benchmark's results as data, and their two renderings: ``report.json`` and ``report.md``.

The JSON's top level carries the headline keys the issue asks for (``events_per_s``, ``p50_ms``,
``p99_ms``, ``naive_events_per_s``, ``passthrough_events_per_s``) next to the ratios; the full
per-variant results, the profile and the machine follow. The markdown is the same, for people.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from benchmarks.stats import LatencySummary
from benchmarks.store_cpu import StoreCpuResult, store_lines

PACKAGES = ("confluent-kafka", "lightgbm", "redis", "hiredis", "pydantic", "numpy", "pandas")
TARGET_RATIO = 20.0  # done-when: the worker at >= 20x the naive throughput ...
TARGET_COMPETENT_RATIO = 5.0  # ... and >= 5x the competent per-event baseline ...
TARGET_P99_MS = 50.0  # ... and p99 <= 50 ms at the target offered rate
TARGET_RULES_RATIO = 0.8  # ... and under a 50-rule policy >= 0.8x the throughput without
TARGET_REDIS_US = 20.0  # issue 16: redis-server CPU per event on the benchmark's traffic ...
TARGET_SHARD_RATIO = 0.45  # ... and the busiest of 3 cluster shards <= 0.45x one instance


@dataclass(frozen=True)
class VariantResult:
    """One measured run. ``key`` names its role: worker, worker_target_rate,
    worker_near_saturation, naive, passthrough, rebuild (a feature rebuild's replay rate)."""

    key: str
    name: str
    events: int  # input transactions
    outputs: int  # unique outputs read back
    events_per_s: float | None  # steady output rate (None: too few outputs to tell)
    offered_per_s: float | None = None  # fixed-rate runs: the rate actually offered
    latency: LatencySummary | None = None
    missing: int = 0
    duplicates: int = 0
    wall_s: float = 0.0
    cpu_s: float | None = None  # user + system CPU of the process that ran it
    note: str = ""


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    share: float  # of the profiled loop's wall time
    us_per_event: float


@dataclass(frozen=True)
class ProfileResult:
    label: str  # e.g. "saturation", "2,000/s offered"
    events: int
    seconds: float
    cpu_s: float
    stages: list[Stage]
    top_functions: list[tuple[str, float]]  # by own time, seconds
    stats_file: str


@dataclass(frozen=True)
class Machine:
    cores: int
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float]
    platform: str
    python: str
    kafka: str
    redis: str
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    command: str
    started_at: str
    duration_s: float
    machine: Machine
    options: dict[str, Any]
    target_rate: float
    variants: list[VariantResult]
    profiles: list[ProfileResult] = field(default_factory=list)
    drift: dict[str, float] | None = None  # the sidecar's report step (benchmarks.drift_step)
    store_cpu: list[StoreCpuResult] = field(default_factory=list)  # benchmarks.store_cpu


METHOD = (
    "- Every variant has its own topics, consumer group and Redis prefix; the Redis windows are "
    "seeded with the days before the replayed events, so they are as full as in production.",
    "- events/s: score records (passthrough: copies) after the first batch over the span from the "
    "first to the last one, by the broker's append time (output topics use LogAppendTime).",
    "- Latency: a score's append time minus its input's create time (the paced producer's "
    "produce call), joined on the input's partition and offset; the warm-up is not counted.",
    "- The worker runs as one `python -m cli.main worker --max-events N` process; naive and "
    "passthrough run in the benchmark's process. CPU cores = CPU seconds / wall seconds of that "
    "process (the worker's include its start-up).",
    "- The rules row repeats the saturation run right after it, on the same backlog, with a "
    "policy of 50 rules (`benchmarks/policies.py`) in force in a registry of its own.",
    "- Ratios are the robust figures: other work on the machine shows in the load averages.",
)


def versions() -> dict[str, str]:
    import confluent_kafka

    out = {"python": platform.python_version(), "librdkafka": confluent_kafka.libversion()[0]}
    for name in PACKAGES:
        try:
            out[name] = package_version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def _find(report: Report, key: str) -> VariantResult | None:
    return next((v for v in report.variants if v.key == key), None)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summary(report: Report) -> dict[str, Any]:
    """The headline figures and the done-when verdicts (None: not measured)."""
    sat, naive, ceiling = (_find(report, k) for k in ("worker", "naive", "passthrough"))
    with_rules = _find(report, "worker_rules")
    rules_ratio = _ratio(
        with_rules.events_per_s if with_rules else None, sat.events_per_s if sat else None
    )
    target, near = _find(report, "worker_target_rate"), _find(report, "worker_near_saturation")
    half, over = _find(report, "worker_half_saturation"), _find(report, "worker_loaded_saturation")
    near_p99 = near.latency.p99_ms if near and near.latency else None
    rate = sat.events_per_s if sat else None
    naive_rate = naive.events_per_s if naive else None
    lat = target.latency if target else None
    ratio = _ratio(rate, naive_rate)
    competent = _find(report, "competent")
    competent_rate = competent.events_per_s if competent else None
    competent_ratio = _ratio(rate, competent_rate)
    one = next((r for r in report.store_cpu if r.shards == 1 and "one slot" in r.layout), None)
    cluster = next((r for r in report.store_cpu if r.shards > 1), None)
    redis_us = one.cpu_us_per_event if one else None
    shard_ratio = _ratio(cluster.busiest_us_per_event if cluster else None, redis_us)
    return {
        "events_per_s": rate,
        "p50_ms": lat.p50_ms if lat else None,
        "p99_ms": lat.p99_ms if lat else None,
        "offered_events_per_s": target.offered_per_s if target else None,
        "target_rate": report.target_rate,
        "naive_events_per_s": naive_rate,
        "passthrough_events_per_s": ceiling.events_per_s if ceiling else None,
        "ratio_to_naive": ratio,
        "competent_events_per_s": competent_rate,
        "ratio_to_competent": competent_ratio,
        "share_of_passthrough": _ratio(rate, ceiling.events_per_s if ceiling else None),
        "near_saturation_offered_per_s": near.offered_per_s if near else None,
        "near_saturation_p50_ms": near.latency.p50_ms if near and near.latency else None,
        "near_saturation_p99_ms": near_p99,
        "loaded_saturation_events_per_s": over.events_per_s if over else None,
        "half_saturation_p50_ms": half.latency.p50_ms if half and half.latency else None,
        "half_saturation_p99_ms": half.latency.p99_ms if half and half.latency else None,
        "rules_events_per_s": with_rules.events_per_s if with_rules else None,
        "rules_ratio": rules_ratio,
        "redis_cpu_us_per_event": redis_us,
        "cluster_busiest_shard_us_per_event": cluster.busiest_us_per_event if cluster else None,
        "cluster_busiest_shard_ratio": shard_ratio,
        "done_when": {
            f"throughput_ge_{TARGET_RATIO:.0f}x_naive": None
            if ratio is None
            else ratio >= TARGET_RATIO,
            f"p99_le_{TARGET_P99_MS:.0f}ms_at_target_rate": None
            if lat is None
            else lat.p99_ms <= TARGET_P99_MS,
            "rules_ge_0.8x_without": None
            if rules_ratio is None
            else rules_ratio >= TARGET_RULES_RATIO,
            f"throughput_ge_{TARGET_COMPETENT_RATIO:.0f}x_competent": None
            if competent_ratio is None
            else competent_ratio >= TARGET_COMPETENT_RATIO,
            f"p99_le_{TARGET_P99_MS:.0f}ms_at_80pct_saturation": None
            if near_p99 is None
            else near_p99 <= TARGET_P99_MS,
            f"redis_cpu_le_{TARGET_REDIS_US:.0f}us_per_event": None
            if redis_us is None
            else redis_us <= TARGET_REDIS_US,
            f"cluster_busiest_shard_le_{TARGET_SHARD_RATIO}x_one_instance": None
            if shard_ratio is None
            else shard_ratio <= TARGET_SHARD_RATIO,
        },
    }


def to_json(report: Report) -> dict[str, Any]:
    return {**summary(report), **asdict(report)}


def _num(x: float | None, fmt: str = ",.0f") -> str:
    return "-" if x is None else format(x, fmt)


def _row(v: VariantResult, naive: float | None, ceiling: float | None) -> str:
    lat = v.latency
    cells = [
        v.name,
        f"{v.events:,}",
        _num(v.events_per_s),
        _num(v.offered_per_s),
        _num(lat.p50_ms if lat else None, ".1f"),
        _num(lat.p99_ms if lat else None, ".1f"),
        _num(_ratio(v.events_per_s, naive), ".1f") + ("x" if naive and v.events_per_s else ""),
        _num(_ratio(v.events_per_s, ceiling), ".0%"),
        _num(v.cpu_s / v.wall_s if v.cpu_s is not None and v.wall_s else None, ".2f"),
    ]
    return "| " + " | ".join(cells) + " |"


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**not met**")


def render_markdown(report: Report) -> str:
    s, m = summary(report), report.machine
    lines = [
        "# fraudscore bench",
        "",
        f"Command: `{report.command}`  ",
        f"Started {report.started_at}, took {report.duration_s:.0f} s.  ",
        f"Machine: {m.cores} cores, {m.platform}; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.2f}' for x in m.load_start)} at start, "
        f"{'/'.join(f'{x:.2f}' for x in m.load_end)} at end. Kafka {m.kafka}, Redis {m.redis}.",
        "",
        "| variant | events | events/s | offered/s | p50 ms | p99 ms | vs naive "
        "| of passthrough | CPU cores |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    naive, ceiling = s["naive_events_per_s"], s["passthrough_events_per_s"]
    lines += [_row(v, naive, ceiling) for v in report.variants]
    dw = list(s["done_when"].values())
    lines += [
        "",
        "## Done when",
        "",
        f"- one worker process at >= {TARGET_RATIO:.0f}x the naive throughput: "
        f"{_num(s['ratio_to_naive'], '.1f')}x, {_verdict(dw[0])}",
        f"- p99 <= {TARGET_P99_MS:.0f} ms at {report.target_rate:,.0f} events/s offered: "
        f"{_num(s['p99_ms'], '.1f')} ms, {_verdict(dw[1])}",
        f"- under a policy of rules, >= {TARGET_RULES_RATIO:.1f}x the throughput without: "
        f"{_num(s['rules_ratio'], '.2f')}x, {_verdict(dw[2])}",
    ]
    lines.append(
        f"- one worker process at >= {TARGET_COMPETENT_RATIO:.0f}x the competent per-event "
        f"baseline: {_num(s['ratio_to_competent'], '.1f')}x, {_verdict(dw[3])}"
    )
    lines.append(
        f"- p99 <= {TARGET_P99_MS:.0f} ms at 80% of saturation (load generator running): "
        f"{_num(s['near_saturation_p99_ms'], '.1f')} ms, {_verdict(dw[4])}"
    )
    if dw[5] is not None or dw[6] is not None:
        lines += [
            f"- redis-server CPU per event <= {TARGET_REDIS_US:.0f} µs (one instance): "
            f"{_num(s['redis_cpu_us_per_event'], '.1f')} µs, {_verdict(dw[5])}",
            f"- busiest of 3 cluster shards <= {TARGET_SHARD_RATIO}x one instance: "
            f"{_num(s['cluster_busiest_shard_ratio'], '.2f')}x, {_verdict(dw[6])}",
        ]
    if report.drift:
        d = report.drift
        lines += [
            "",
            "## Drift report step",
            "",
            f"One report over a {d['window']:,.0f}-sample window ({d['features']:.0f} features "
            f"+ score) against a {d['reference_rows']:,.0f}-row reference: {d['seconds']:.1f} s; "
            f"budget {d['budget_s']:.0f} s (a tenth of the window's fill time at 1% sampling of "
            f"5,000 events/s), {_verdict(d['seconds'] <= d['budget_s'])}.",
        ]
    lines += store_lines(report.store_cpu)
    lines += ["", "## How it is measured", "", *METHOD]
    notes = [f"- {v.name}: {v.note}" for v in report.variants if v.note]
    if notes:
        lines += ["", "## Notes", "", *notes]
    for profile in report.profiles:
        lines += ["", *_profile_lines(profile)]
    lines += ["", "## Versions", "", ", ".join(f"{k} {v}" for k, v in m.versions.items()), ""]
    return "\n".join(lines)


def _profile_lines(p: ProfileResult) -> list[str]:
    lines = [
        f"## Where the worker's time goes: {p.label} (cProfile, the same loop in-process)",
        "",
        f"{p.events:,} events in {p.seconds:.2f} s of loop wall time "
        f"({p.events / p.seconds if p.seconds else 0:,.0f} events/s under the profiler; "
        f"{p.cpu_s:.2f} s CPU for the whole process, librdkafka's threads and any feeding thread "
        f"included); stats in `{p.stats_file}`.",
        "",
        "| stage | seconds | share | us/event |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {st.name} | {st.seconds:.3f} | {st.share:.1%} | {st.us_per_event:.1f} |"
        for st in p.stages
    ]
    ranked = sorted(p.stages, key=lambda st: st.seconds, reverse=True)[:3]
    lines += ["", "Largest: " + ", ".join(f"{st.name} {st.share:.0%}" for st in ranked) + "."]
    lines += ["", "Top functions by own time:", ""]
    lines += [f"- {secs:.3f} s {name}" for name, secs in p.top_functions]
    return lines


def write(report: Report, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(json.dumps(to_json(report), indent=2) + "\n")
    md_path.write_text(render_markdown(report))
    return json_path, md_path
