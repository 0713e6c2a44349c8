"""The benchmark report: headline keys, ratios, done-when verdicts, markdown rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.report import (
    Machine,
    ProfileResult,
    Report,
    Stage,
    VariantResult,
    _verdict,
    render_markdown,
    summary,
    to_json,
    write,
)
from benchmarks.stats import summarize
from benchmarks.store_cpu import StoreCpuResult

HEADLINE = ("events_per_s", "p50_ms", "p99_ms", "naive_events_per_s", "passthrough_events_per_s")


def _report(variants: list[VariantResult], profiles: list[ProfileResult] | None = None) -> Report:
    machine = Machine(
        cores=2,
        load_start=(1.5, 1.2, 1.0),
        load_end=(2.5, 1.4, 1.1),
        platform="Linux-test",
        python="3.11.7",
        kafka="127.0.0.1:19092",
        redis="7.0 at redis://127.0.0.1:16379/0",
        versions={"lightgbm": "4.7.0"},
    )
    return Report(
        command="fraudscore bench --events 1000",
        started_at="2026-01-01T00:00:00+00:00",
        duration_s=95.0,
        machine=machine,
        options={"events": 1000},
        target_rate=2000.0,
        variants=variants,
        profiles=profiles or [],
    )


def _full() -> Report:
    lat = summarize([float(x) for x in range(1, 101)])
    near = summarize([float(x) for x in range(10, 210, 2)])
    variants = [
        VariantResult("passthrough", "passthrough", 1000, 1000, 50_000.0, wall_s=1, cpu_s=0.5),
        VariantResult("worker", "worker, saturation", 1000, 1000, 12_000.0, wall_s=9, cpu_s=8),
        VariantResult("worker_rules", "worker + 50 rules", 1000, 1000, 10_800.0, wall_s=9, cpu_s=8),
        VariantResult("naive", "naive, saturation", 200, 200, 400.0, wall_s=1, cpu_s=0.3),
        VariantResult("competent", "competent per-event", 500, 500, 1500.0, wall_s=1, cpu_s=1),
        VariantResult("worker_target_rate", "worker @ 2,000/s", 800, 800, None, 1998.0, lat),
        VariantResult("worker_near_saturation", "worker @ 80%", 900, 900, None, 9600.0, near),
    ]
    stages = [Stage("enrich", 0.5, 0.5, 50.0), Stage("produce", 0.3, 0.3, 30.0)]
    profile = ProfileResult(
        "saturation", 1000, 1.0, 0.9, stages, [("f", 0.4)], "var/bench/worker-saturation.prof"
    )
    return _report(variants, [profile])


def test_headline_keys_and_ratios() -> None:
    s = summary(_full())
    for key in HEADLINE:
        assert s[key] is not None, key
    assert s["events_per_s"] == 12_000.0
    assert s["ratio_to_naive"] == pytest.approx(30.0)
    assert s["share_of_passthrough"] == pytest.approx(0.24)
    assert s["p50_ms"] == pytest.approx(50.5)
    assert s["p99_ms"] == pytest.approx(99.01)
    assert s["near_saturation_offered_per_s"] == 9600.0
    assert s["rules_events_per_s"] == 10_800.0 and s["rules_ratio"] == pytest.approx(0.9)
    assert s["ratio_to_competent"] == pytest.approx(8.0)
    assert s["done_when"] == {
        "throughput_ge_20x_naive": True,
        "p99_le_50ms_at_target_rate": False,
        "rules_ge_0.8x_without": True,
        "throughput_ge_5x_competent": True,
        "p99_le_50ms_at_80pct_saturation": False,  # 203 ms in _full()
        "redis_cpu_le_20us_per_event": None,  # no store step in this report
        "cluster_busiest_shard_le_0.45x_one_instance": None,
    }


def test_json_is_serializable_and_complete(tmp_path: Path) -> None:
    json_path, md_path = write(_full(), tmp_path / "bench")
    doc = json.loads(json_path.read_text())
    assert set(HEADLINE) <= doc.keys()
    assert {"variants", "machine", "profiles", "command", "options"} <= doc.keys()
    assert doc["profiles"][0]["stages"][0] == {
        "name": "enrich",
        "seconds": 0.5,
        "share": 0.5,
        "us_per_event": 50.0,
    }
    assert doc["machine"]["cores"] == 2 and doc["machine"]["load_start"] == [1.5, 1.2, 1.0]
    assert doc["variants"][5]["latency"]["p99_ms"] == pytest.approx(99.01)
    assert md_path.read_text() == render_markdown(_full())
    assert doc["events_per_s"] == to_json(_full())["events_per_s"] == 12_000.0


def test_markdown_has_the_table_the_verdicts_and_the_machine() -> None:
    md = render_markdown(_full())
    assert "`fraudscore bench --events 1000`" in md
    assert "| variant | events | events/s |" in md
    assert "| worker, saturation | 1,000 | 12,000 | - | - | - | 30.0x | 24% | 0.89 |" in md
    assert "| worker @ 2,000/s | 800 | - | 1,998 | 50.5 | 99.0 |" in md
    assert "30.0x, **met**" in md and "99.0 ms, **not met**" in md
    assert "0.90x, **met**" in md
    assert "competent per-event baseline: 8.0x, **met**" in md
    assert "2 cores" in md and "1.50/1.20/1.00 at start" in md and "2.50/1.40/1.10 at end" in md
    assert "## Where the worker's time goes: saturation" in md
    assert "| enrich | 0.500 | 50.0% | 50.0 |" in md
    assert "Largest: enrich 50%, produce 30%." in md


def test_missing_variants_render_as_not_measured() -> None:
    only_worker = [VariantResult("worker", "worker, saturation", 10, 10, None)]
    report = _report(only_worker)
    s = summary(report)
    assert s["events_per_s"] is None and s["ratio_to_naive"] is None
    assert s["done_when"] == {
        "throughput_ge_20x_naive": None,
        "p99_le_50ms_at_target_rate": None,
        "rules_ge_0.8x_without": None,
        "throughput_ge_5x_competent": None,
        "p99_le_50ms_at_80pct_saturation": None,
        "redis_cpu_le_20us_per_event": None,
        "cluster_busiest_shard_le_0.45x_one_instance": None,
    }
    md = render_markdown(report)
    assert md.count("not measured") == 5
    assert "| worker, saturation | 10 | - | - | - | - | - | - | - |" in md


def test_drift_step_renders_with_its_verdict() -> None:
    import dataclasses

    base = _full()
    fast = dataclasses.replace(
        base,
        drift={
            "window": 10_000.0,
            "reference_rows": 5_000.0,
            "features": 18.0,
            "seconds": 2.5,
            "budget_s": 20.0,
        },
    )
    slow = dataclasses.replace(fast, drift={**(fast.drift or {}), "seconds": 31.0})
    assert "2.5 s; budget 20 s" in render_markdown(fast)
    assert _verdict(True) in render_markdown(fast).split("## Drift report step")[1]
    assert _verdict(False) in render_markdown(slow).split("## Drift report step")[1]
    assert "## Drift report step" not in render_markdown(base)


def test_store_cpu_section_and_its_verdicts() -> None:
    import dataclasses

    results = [
        StoreCpuResult("one instance, one slot", 1, 40_000, 50.0, 50.0, 55.0, {"zadd": (2.0, 6.0)}),
        StoreCpuResult("one instance, 12 slots", 1, 40_000, 56.0, 56.0, 80.0),
        StoreCpuResult("3-node cluster, 12 slots", 3, 40_000, 60.0, 21.0, 90.0),
    ]
    report = dataclasses.replace(_full(), store_cpu=results)
    s = summary(report)
    assert s["redis_cpu_us_per_event"] == 50.0
    assert s["cluster_busiest_shard_ratio"] == pytest.approx(0.42)
    assert s["done_when"]["redis_cpu_le_20us_per_event"] is False
    assert s["done_when"]["cluster_busiest_shard_le_0.45x_one_instance"] is True
    md = render_markdown(report)
    assert "50.0 µs, **not met**" in md and "0.42x, **met**" in md
    assert "| 3-node cluster, 12 slots | 3 | 60.0 | 21.0 | 0.42x | 90.0 |" in md
    assert "zadd 2.00/event 6.00 µs" in md
