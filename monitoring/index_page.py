"""The HTML of the reports folder's ``index.html``: one table row per kept report, newest first.

Plain HTML with inline CSS, no JavaScript and no external assets, so the page works opened from
disk, behind any static server and in an air-gapped ops network. Every value from a summary is
escaped (model versions and feature names arrive from Kafka) and every link is relative, so the
folder can be moved or served under any prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from monitoring.store import StoredReport
    from monitoring.summary import DriftSummary

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.drift,.no_drift{color:#fff;padding:.1rem .4rem;border-radius:3px;white-space:nowrap}
.drift{background:#c62828}
.no_drift{background:#2e7d32}
.muted{color:#777}
"""


def render_index(reports: Sequence[StoredReport], *, now: datetime | None = None) -> str:
    """The whole page for ``reports`` (already sorted newest first)."""
    generated = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    rows = "\n".join(_row(r) for r in reports) or (
        '<tr><td colspan="10" class="muted">No drift reports yet.</td></tr>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>fraudscore drift reports</title><style>{_STYLE}</style></head>
<body>
<h1>fraudscore drift reports</h1>
<p class="muted">{len(reports)} report(s), newest first. Generated {generated}.</p>
<table>
<thead><tr><th>Created (UTC)</th><th>Model</th><th>Window (event time)</th><th>Samples</th>
<th>Status</th><th>Drifted features</th><th>Score drift</th><th>Score PSI</th>
<th>Data quality</th><th>Files</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""


def _row(report: StoredReport) -> str:
    s = report.summary
    label = "drift" if s.status == "drift" else "no drift"
    drifted = ", ".join(escape(c) for c in s.drifted_columns) or '<span class="muted">none</span>'
    score = s.score_drift
    cells = [
        _when(s.created_at),
        escape(s.model_version),
        f"{_when(s.window_start)} &rarr; {_when(s.window_end)}",
        f"{s.n_current} vs {s.n_reference} ref",
        f'<span class="{s.status}">{label}</span>',
        f'{drifted}<br><span class="muted">{len(s.drifted_columns)}/{len(s.columns)}'
        f" = {s.share_drifted:.0%}</span>",
        f'{"drifted" if score.drifted else "stable"}<br><span class="muted">'
        f"{escape(score.method)} {score.score:.3g}</span>",
        f"{s.score_psi:.3f}",
        _quality(s),
        " ".join(
            f'<a href="{quote(path.name)}">{text}</a>'
            for path, text in (
                (report.html, "report"),
                (report.json, "summary"),
                (report.evidently_json, "evidently"),
            )
        ),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _quality(s: DriftSummary) -> str:
    missing = sum(s.missing.values())
    worst = max(s.out_of_range.items(), key=lambda kv: kv[1], default=None)
    parts = [f"{missing} missing value(s)"]
    if worst is not None and worst[1] > 0:
        parts.append(f"{worst[1]:.1%} of {escape(worst[0])} out of reference range")
    return "<br>".join(parts)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "?"
