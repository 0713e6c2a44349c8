"""The reports folder's ``index.html``: drift reports, then performance from labels.

Shared by both monitors: the drift sidecar and ``fraudscore perf run`` (another process) each
rebuild the page after writing their files (``write_index``), so each rebuild shows the latest
of both.

Drift: one table row per kept report, newest first. Performance (when ``fraudscore perf run``
has written ``performance.json``): one row per event day and model version, newest day first,
days whose labels are still arriving marked "provisional" and greyed.

Plain HTML with inline CSS, no JavaScript and no external assets, so the page works opened from
disk, behind any static server and in an air-gapped ops network. Every value from a summary is
escaped (model versions and feature names arrive from Kafka) and every link is relative, so the
folder can be moved or served under any prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from monitoring.drift.store import StoredReport, list_reports, write_atomic
from monitoring.performance.types import read_snapshot

if TYPE_CHECKING:
    from monitoring.drift.summary import DriftSummary
    from monitoring.performance.types import DayPerformance, PerformanceSnapshot

INDEX_NAME = "index.html"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.drift,.no_drift{color:#fff;padding:.1rem .4rem;border-radius:3px;white-space:nowrap}
.drift{background:#c62828}
.no_drift{background:#2e7d32}
.muted{color:#777}
.final,.provisional,.degraded,.ok{padding:.1rem .4rem;border-radius:3px;white-space:nowrap}
.final{background:#e8f5e9}
.provisional{background:#fff3e0;color:#8a4b00}
.degraded{background:#c62828;color:#fff}
.ok{background:#2e7d32;color:#fff}
tr.incomplete td{color:#777}
h2{margin-top:2.5rem}
"""


def write_index(reports_dir: Path) -> Path:
    """Render ``index.html``: every kept report, newest first, with status and links.

    The performance section comes from ``performance.json``, written by ``fraudscore perf run``.
    """
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / INDEX_NAME
    page = render_index(list_reports(reports_dir), performance=read_snapshot(reports_dir))
    write_atomic(path, page)
    return path


def render_index(
    reports: Sequence[StoredReport],
    *,
    now: datetime | None = None,
    performance: PerformanceSnapshot | None = None,
) -> str:
    """The whole page for ``reports`` (already sorted newest first) and the performance table."""
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
{render_performance(performance)}
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


def render_performance(snap: PerformanceSnapshot | None) -> str:
    """The "Model performance from labels" section (a hint to run the monitor without data)."""
    head = '<h2 id="performance">Model performance from labels</h2>'
    if snap is None or not snap.rows:
        return f'{head}\n<p class="muted">No performance data yet: run fraudscore perf run.</p>'
    delay = f"{snap.label_delay_days:g}"
    alarms = ", ".join(
        f'{escape(v)} <span class="{s}">{s}</span>' for v, s in sorted(snap.alarms.items())
    )
    rows = "\n".join(_perf_row(r) for r in sorted(snap.rows, key=_newest_first))
    return f"""{head}
<p>Labels as of {_when(snap.labels_as_of)} UTC (newest label_time seen). Label delay {delay}
day(s): an event day is <span class="final">final</span> once labels reach its end plus
{delay} day(s); until then it is <span class="provisional">provisional</span>: unlabelled
events count as legitimate, so its precision is a lower bound and its recall may still move.
Precision and recall per event; card-day values (the unit of the bundle's expected operating
point and of the alarm) in grey below them. CP@{snap.k}: frauds among the day's {snap.k} best-scored
cards / {snap.k}. Computed {_when(snap.generated_at)} UTC;
<a href="performance.json">performance.json</a>.</p>
<p>Degradation alarm{f" ({escape(snap.alarm_metric)})" if snap.alarm_metric else ""}:
{alarms or '<span class="muted">no verdict yet</span>'}</p>
<table>
<thead><tr><th>Event day (UTC)</th><th>Model</th><th>Labels so far</th><th>Scored</th>
<th>Alerts</th><th>Frauds</th><th>Precision<br>card-day</th><th>Recall<br>card-day</th>
<th>Avg precision</th><th>CP@{snap.k}</th></tr></thead>
<tbody>
{rows}
</tbody></table>"""


def _perf_row(r: DayPerformance) -> str:
    state = (
        '<span class="final">final</span>'
        if r.complete
        else f'<span class="provisional">provisional</span><br><span class="muted">final at '
        f"{_when(r.final_at)}</span>"
    )
    cells = [
        f"{r.day.isoformat()}<br>{state}",
        escape(r.model_version),
        f'{_pct(r.label_coverage)}<br><span class="muted">{r.labelled} of {r.scored}</span>',
        str(r.scored),
        f"{r.alerts}<br>{_pct(r.alert_rate)}",
        str(r.frauds),
        f'{_num(r.precision)}<br><span class="muted">{_num(r.card_precision)}</span>',
        f'{_num(r.recall)}<br><span class="muted">{_num(r.card_recall)}</span>',
        _num(r.average_precision),
        _num(r.cp_at_k),
    ]
    css = "complete" if r.complete else "incomplete"
    return f'<tr class="{css}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _newest_first(r: DayPerformance) -> tuple[int, str]:
    return (-r.day.toordinal(), r.model_version)


def _num(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:.1%}"
