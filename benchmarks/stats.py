"""The arithmetic of the benchmark, kept pure so it is unit tested: no sockets, no clocks.

- ``percentile``: linear interpolation between closest ranks (numpy's default method);
- ``join_latencies``: output timestamp minus input timestamp, matched by input position;
- ``steady_rate``: events per second between the first and the last output;
- ``Pacer``: an absolute schedule for a fixed offered rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Position = tuple[int, int]  # (partition, offset) of an input record


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linearly interpolated between ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0-100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """End-to-end latency of one run, in milliseconds."""

    count: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float


def summarize(latencies_ms: Sequence[float]) -> LatencySummary | None:
    """Percentiles of a run's latencies; None when nothing was measured."""
    if not latencies_ms:
        return None
    return LatencySummary(
        count=len(latencies_ms),
        p50_ms=percentile(latencies_ms, 50),
        p99_ms=percentile(latencies_ms, 99),
        p999_ms=percentile(latencies_ms, 99.9),
        max_ms=float(max(latencies_ms)),
        mean_ms=sum(latencies_ms) / len(latencies_ms),
    )


@dataclass(frozen=True, slots=True)
class Joined:
    latencies_ms: list[float]
    missing: int  # inputs without an output
    duplicates: int  # outputs seen more than once (at-least-once redelivery)


def join_latencies(
    sent_ms: Mapping[Position, int], outputs: Iterable[tuple[Position, int]]
) -> Joined:
    """Latency of each input = its first output's timestamp minus its own timestamp.

    ``sent_ms`` maps the inputs that count (e.g. not the warm-up) to their timestamps; outputs of
    other inputs are ignored. A duplicate output keeps the first one: that is when it was known.
    """
    first: dict[Position, int] = {}
    duplicates = 0
    for pos, ts in outputs:
        if pos not in sent_ms:
            continue
        if pos in first:
            duplicates += 1
            first[pos] = min(first[pos], ts)
        else:
            first[pos] = ts
    latencies = [float(first[pos] - sent_ms[pos]) for pos in sent_ms if pos in first]
    return Joined(latencies, len(sent_ms) - len(first), duplicates)


@dataclass(frozen=True, slots=True)
class Rate:
    events: int  # outputs after the first one
    seconds: float  # from the first output to the last
    events_per_s: float


def steady_rate(timestamps_ms: Sequence[int]) -> Rate | None:
    """Events per second between the first and the last output timestamp.

    The events whose outputs carry the first timestamp are not counted: they were processed
    before the window opens (the first batch), so the rate is outputs *after* it over the span.
    None when the span is empty (a single batch cannot give a rate at millisecond resolution).
    """
    if not timestamps_ms:
        return None
    first, last = min(timestamps_ms), max(timestamps_ms)
    if last <= first:
        return None
    after = sum(1 for t in timestamps_ms if t > first)
    seconds = (last - first) / 1000.0
    return Rate(after, seconds, after / seconds)


@dataclass(frozen=True, slots=True)
class Pacer:
    """When the n-th record is due at ``rate`` per second from ``started`` (monotonic seconds).

    The schedule is absolute: a late send does not shift the ones after it, so the offered rate
    holds over the run; a sender that fell behind sends without waiting until it has caught up.
    """

    rate: float
    started: float

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"rate must be positive, got {self.rate}")

    def due(self, n: int) -> float:
        """Monotonic time at which record number ``n`` (0-based) is due."""
        return self.started + n / self.rate

    def wait_s(self, n: int, now: float) -> float:
        """How long to wait before sending record ``n``; 0 when it is due or late."""
        return max(0.0, self.due(n) - now)

    def lag_s(self, n: int, now: float) -> float:
        """How far behind schedule record ``n`` is sent (0 when on time)."""
        return max(0.0, now - self.due(n))


def offered_rate(sent: int, first_s: float, last_s: float) -> float:
    """The rate actually offered: records after the first over the time they took."""
    if sent < 2 or last_s <= first_s:
        return 0.0
    return (sent - 1) / (last_s - first_s)
