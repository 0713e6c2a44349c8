"""The bundle's two pictures, drawn with matplotlib's object API (Agg canvas, no pyplot state)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightgbm as lgb
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve

from models.train import TrainResult


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def pr_curve(results: Sequence[TrainResult], path: Path) -> None:
    """Test-week precision-recall curve of each fold, with the review threshold's point."""
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.subplots()
    for r in results:
        precision, recall, _ = precision_recall_curve(r.test_labels, r.test_scores)
        label = f"test {r.metrics.test_start} (AP {r.metrics.average_precision:.3f})"
        ax.step(recall, precision, where="post", label=label)
        flagged = r.test_scores >= r.thresholds.review.threshold
        hits = int((flagged & (r.test_labels > 0)).sum())
        if flagged.any():
            ax.plot(hits / max(int(r.test_labels.sum()), 1), hits / int(flagged.sum()), "ko", ms=4)
    ax.set(
        xlabel="recall (transactions)",
        ylabel="precision",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title="Test-week precision-recall (dots: review threshold)",
    )
    ax.legend(loc="lower left", fontsize="small")
    _save(fig, path)


def feature_importance(booster: lgb.Booster, path: Path) -> None:
    """Total gain per feature, largest on top."""
    gain = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
    names = list(booster.feature_name())
    order = np.argsort(gain)
    fig = Figure(figsize=(6.4, 0.3 * len(names) + 1.2))
    ax = fig.subplots()
    ax.barh([names[i] for i in order], gain[order] / max(gain.sum(), 1e-12))
    ax.set(xlabel="share of total gain", title="Feature importance (gain)")
    _save(fig, path)
