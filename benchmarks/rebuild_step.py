"""The rebuild row: a saturation run's topics replayed into an empty namespace with
``fraudscore features rebuild``'s code, in this process: the rate at which a lost store comes
back (docs/operations.md), next to the worker's saturation in the same run."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.report import VariantResult
from core.settings import Settings
from decision.rebuild import rebuild
from features.open import open_store


def run_rebuild(
    target: Settings, n: int, worker_rate: float | None, done: Callable[[int], None]
) -> VariantResult:
    """Replay ``target``'s topics into its (empty) prefix; ``done(seen)`` follows the replay."""
    stats = rebuild(
        target,
        open_store(target),
        progress=lambda stage, seen, _total: done(seen) if stage != "labels" else None,
    )
    rate = stats.transactions / stats.seconds if stats.seconds > 0 else None
    versus = f", {rate / worker_rate:.2f}x the worker's saturation" if rate and worker_rate else ""
    return VariantResult(
        key="rebuild",
        name="feature rebuild, empty store",
        events=n,
        outputs=stats.transactions,
        events_per_s=rate,
        wall_s=stats.seconds,
        note=f"{stats.labels:,} labels, then {stats.transactions:,} transactions through "
        f"the workers' batch script into an empty namespace, nothing published{versus}",
    )
