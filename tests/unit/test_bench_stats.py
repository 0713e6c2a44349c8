"""The benchmark's arithmetic: percentiles, latency join, steady rate, pacing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.stats import (
    Pacer,
    join_latencies,
    offered_rate,
    percentile,
    steady_rate,
    summarize,
)


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200),
    st.floats(0, 100),
)
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(np.percentile(values, q), rel=1e-9, abs=1e-6)


def test_percentile_of_known_values() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50.5
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize() -> None:
    s = summarize([10.0] * 98 + [100.0, 1000.0])
    assert s is not None
    assert (s.count, s.p50_ms, s.max_ms) == (100, 10.0, 1000.0)
    assert 100.0 <= s.p99_ms <= 1000.0
    assert summarize([]) is None


def test_join_latencies_uses_first_output_and_ignores_others() -> None:
    sent = {(0, 1): 1000, (0, 2): 1005, (1, 1): 1010}
    outputs = [
        ((0, 1), 1020),
        ((0, 2), 1040),
        ((0, 2), 1030),  # a redelivery arriving earlier in the list order does not matter
        ((9, 9), 5000),  # warm-up output: not in ``sent``
    ]
    joined = join_latencies(sent, outputs)
    assert sorted(joined.latencies_ms) == [20.0, 25.0]
    assert joined.missing == 1  # (1, 1) never scored
    assert joined.duplicates == 1


def test_steady_rate_excludes_the_first_batch() -> None:
    # first batch of 3 at t=1000, then 10 outputs up to t=2000: 10 events in 1 s
    ts = [1000, 1000, 1000, *range(1100, 2001, 100)]
    rate = steady_rate(ts)
    assert rate is not None
    assert (rate.events, rate.seconds, rate.events_per_s) == (10, 1.0, 10.0)


def test_steady_rate_needs_a_span() -> None:
    assert steady_rate([]) is None
    assert steady_rate([5, 5, 5]) is None


def test_pacer_schedule_is_absolute() -> None:
    p = Pacer(rate=2000, started=100.0)
    assert p.due(0) == 100.0
    assert p.due(2000) == pytest.approx(101.0)
    assert p.wait_s(1, now=100.0) == pytest.approx(0.0005)
    # a stall of 10 ms: the next 20 records are late and go without waiting
    assert p.wait_s(10, now=100.015) == 0.0
    assert p.lag_s(10, now=100.015) == pytest.approx(0.010)
    assert p.wait_s(40, now=100.015) == pytest.approx(0.005)


def test_pacer_rejects_non_positive_rate() -> None:
    with pytest.raises(ValueError):
        Pacer(rate=0, started=0.0)


def test_paced_sender_holds_the_rate() -> None:
    """Simulate a sender that sleeps exactly as told, with a 50 ms hiccup at record 100."""
    p, now, sent_at = Pacer(rate=1000, started=0.0), 0.0, []
    for n in range(1000):
        now += p.wait_s(n, now)
        sent_at.append(now)
        now += 0.05 if n == 100 else 0.0001  # the send itself
    assert offered_rate(len(sent_at), sent_at[0], sent_at[-1]) == pytest.approx(1000, rel=0.01)
    assert max(p.lag_s(n, t) for n, t in enumerate(sent_at)) == pytest.approx(0.05, abs=0.002)


def test_offered_rate_edge_cases() -> None:
    assert offered_rate(1, 0.0, 1.0) == 0.0
    assert offered_rate(11, 0.0, 1.0) == 10.0
