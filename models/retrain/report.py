"""The comparison report of one retrain: markdown for people, JSON for machines, a PR plot.

Written to ``<reports dir>/<candidate version>/`` (``report.md``, ``report.json``,
``pr_curves.png``): candidate and champion measured on the same holdout week, side by side, with
the gate's decision and its reasons. The folder is written under a temporary name and renamed, so
a reader never sees half a report.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve

from models.bundle import ModelBundle
from models.errors import ModelsError
from models.retrain.gate import Decision
from models.train import FoldMetrics, TrainResult

REPORT_MD, REPORT_JSON, PR_PLOT = "report.md", "report.json", "pr_curves.png"
ROWS = (
    ("ROC AUC", "auc"),
    ("average precision", "average_precision"),
    ("card precision@100", "card_precision_at_100"),
)
Champion = tuple[ModelBundle, FoldMetrics, npt.NDArray[np.float64]]


def fold_dict(m: FoldMetrics) -> dict[str, Any]:
    """Holdout metrics and what the model's review threshold flagged there."""
    r = m.test_at_review
    return {
        "auc": m.auc,
        "average_precision": m.average_precision,
        "card_precision_at_100": m.card_precision_at_100,
        "review": {
            "threshold": r.threshold,
            "cards_per_day": r.cards_per_day,
            "precision": r.precision,
            "recall": r.recall,
        },
    }


def report_dict(
    training: Mapping[str, Any],
    candidate: TrainResult,
    champion: Champion | None,
    decision: Decision,
    entry: Mapping[str, Any],
) -> dict[str, Any]:
    m = candidate.metrics
    return {
        "candidate": decision.candidate,
        "champion": decision.champion,
        "data": dict(training),
        "training": {
            "window": candidate.window,
            "history_days": candidate.history_days,
            "train_start": str(candidate.train_start),
            "rows": m.n_train,
            "frauds": m.n_train_frauds,
            "num_boost_round": candidate.num_boost_round,
        },
        "holdout": {"first_day": str(m.test_start), "rows": m.n_test, "frauds": m.n_test_frauds},
        "metrics": {
            "candidate": fold_dict(m),
            "champion": fold_dict(champion[1]) if champion else None,
        },
        "decision": {
            **decision.to_dict(),
            "action": entry.get("action"),
            "mode": entry.get("mode"),
            "note": entry.get("reason"),
        },
    }


def _num(value: Any) -> str:
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
    )


def _noteworthy(dec: Mapping[str, Any]) -> bool:
    """Forced, held or stale: the registry did something else than the gate's outcome."""
    return bool(dec.get("note")) and (dec.get("mode") != "auto" or dec.get("action") == "hold")


def render_markdown(report: Mapping[str, Any]) -> str:
    data, tr, ho = report["data"], report["training"], report["holdout"]
    cand, champ = report["metrics"]["candidate"], report["metrics"]["champion"] or {}
    dec = report["decision"]
    lines = [
        f"# Retrain: candidate {report['candidate']} vs champion {report['champion'] or '(none)'}",
        "",
        f"- data: {data['source']}, events in ({data['since']}, {data['cutoff']}]: "
        f"{data['events']:,} ({data['labelled_events']:,} labelled, "
        f"{data['too_recent_events']:,} too recent for labels: history only)",
        f"- candidate: {tr['window']} window (at most {tr['history_days']} days) ending "
        f"before the gap, from fold {tr['train_start']}: {tr['rows']:,} rows, "
        f"{tr['frauds']:,} frauds, {tr['num_boost_round']} rounds",
        f"- holdout: the week from {ho['first_day']}: {ho['rows']:,} rows, {ho['frauds']:,} frauds "
        "(known-compromised cards dropped)",
        "",
        "| holdout metric | candidate | champion | difference |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, key in ROWS:
        a, b = cand[key], champ.get(key)
        diff = None if b is None else a - b
        lines.append(f"| {label} | {_num(a)} | {_num(b)} | {_num(diff)} |")
    for key, label in (
        ("cards_per_day", "review: cards/day"),
        ("precision", "review: precision"),
        ("recall", "review: recall"),
    ):
        b = champ.get("review", {}).get(key)
        lines.append(f"| {label} | {_num(cand['review'][key])} | {_num(b)} | |")
    lines += [
        "",
        f"## Gate: {dec['outcome']} (registry action: {dec['action']}, --promote {dec['mode']})",
        "",
        f"Rule: {dec['rule']['metric']} must gain at least {dec['rule']['margin']:g}; other "
        f"metrics may drop at most {dec['rule']['max_drop']:g}; floors {dec['rule']['floors']}.",
        "",
        *[f"- {reason}" for reason in dec["reasons"]],
        *([f"- note: {dec['note']}"] if _noteworthy(dec) else []),
        "",
        f"![precision-recall on the holdout]({PR_PLOT})",
        "",
    ]
    return "\n".join(lines)


def pr_plot(candidate: TrainResult, champion: Champion | None, path: Path) -> None:
    """Holdout precision-recall of both models, dots at each one's review threshold."""
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.subplots()
    labels = candidate.test_labels
    curves = [
        (
            "candidate",
            candidate.test_scores,
            candidate.thresholds.review.threshold,
            candidate.metrics,
        )
    ]
    if champion is not None:
        bundle, metrics, scores = champion
        curves.append((f"champion {bundle.version}", scores, bundle.threshold, metrics))
    for name, scores, threshold, m in curves:
        precision, recall, _ = precision_recall_curve(labels, scores)
        (line,) = ax.step(
            recall, precision, where="post", label=f"{name} (AP {m.average_precision:.3f})"
        )
        flagged = scores >= threshold
        hits = int((flagged & (labels > 0)).sum())
        if flagged.any():
            ax.plot(
                hits / max(int(labels.sum()), 1),
                hits / int(flagged.sum()),
                "o",
                color=line.get_color(),
            )
    ax.set(
        xlabel="recall (transactions)",
        ylabel="precision",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title="Holdout week: candidate vs champion (dots: review threshold)",
    )
    ax.legend(loc="lower left", fontsize="small")
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def write_report(
    folder: Path,
    *,
    training: Mapping[str, Any],
    candidate: TrainResult,
    champion: Champion | None,
    decision: Decision,
    entry: Mapping[str, Any],
) -> Path:
    """Write the three files into ``folder`` (replaced whole); returns it."""
    report = report_dict(training, candidate, champion, decision, entry)
    tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / REPORT_JSON).write_text(json.dumps(report, indent=2, default=str) + "\n")
        (tmp / REPORT_MD).write_text(render_markdown(report))
        pr_plot(candidate, champion, tmp / PR_PLOT)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelsError(f"cannot write the retrain report {folder}: {exc}") from exc
    return folder
