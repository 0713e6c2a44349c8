"""The report store: one folder of drift reports, newest first, the last K kept.

Each report is three files sharing a stem ``<UTC created_at>_<model version>``:

- ``<stem>.html``: Evidently's report, for people;
- ``<stem>_evidently.json``: Evidently's own JSON, for digging into what it computed;
- ``<stem>.json``: our ``DriftSummary``, for machines (and for the index page).

Why this layout: a folder of plain files can be served by any static HTTP server, rsynced, or
opened from disk, and needs no database. Every file is written to a temporary name and renamed
into place, and the summary JSON is written last, so a reader (the index page, the HTTP server,
a second sidecar's listing) never sees a half-written report: no summary, no report.

The model version goes into the file name sanitised to ``[A-Za-z0-9.-]`` (it arrives from Kafka
and must not be able to name a path); the true version is inside the summary.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from monitoring.drift.summary import DriftSummary

if TYPE_CHECKING:
    from evidently.core.report import Snapshot
log = logging.getLogger(__name__)

_SUMMARY = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)_([A-Za-z0-9.-]+)\.json$")
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One report on disk: its files and its parsed summary."""

    stem: str
    html: Path
    json: Path
    evidently_json: Path
    summary: DriftSummary

    @property
    def files(self) -> tuple[Path, Path, Path]:
        return (self.html, self.evidently_json, self.json)


def report_stem(summary: DriftSummary) -> str:
    """``20250101T120000.123456Z_v1``: sortable by time, safe as a file name."""
    version = re.sub(r"\.{2,}", ".", _UNSAFE.sub("-", summary.model_version)).strip(".-")
    version = version or "unknown"
    return f"{summary.created_at:%Y%m%dT%H%M%S.%f}Z_{version[:64]}"


def save_report(
    reports_dir: Path, summary: DriftSummary, snapshot: Snapshot, *, keep: int
) -> StoredReport:
    """Write the three files of one report, then remove all but the newest ``keep`` reports."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    stem = report_stem(summary)
    report = StoredReport(
        stem=stem,
        html=reports_dir / f"{stem}.html",
        json=reports_dir / f"{stem}.json",
        evidently_json=reports_dir / f"{stem}_evidently.json",
        summary=summary,
    )
    tmp_html = report.html.with_name(f".{stem}.html.tmp")
    snapshot.save_html(str(tmp_html))  # Evidently writes nothing when given a Path object
    os.replace(tmp_html, report.html)
    write_atomic(report.evidently_json, snapshot.json())
    write_atomic(report.json, summary.model_dump_json(indent=2))  # last: marks completeness
    prune(reports_dir, keep)
    return report


def list_reports(reports_dir: Path) -> list[StoredReport]:
    """Complete reports in ``reports_dir``, newest first. Unreadable summaries are skipped."""
    if not reports_dir.is_dir():
        return []
    found: list[StoredReport] = []
    for path in reports_dir.iterdir():
        match = _SUMMARY.match(path.name)
        if not match:
            continue
        try:
            summary = DriftSummary.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            log.warning("skipping unreadable drift summary %s: %s", path.name, exc)
            continue
        stem = path.name[: -len(".json")]
        found.append(
            StoredReport(
                stem=stem,
                html=path.with_name(f"{stem}.html"),
                json=path,
                evidently_json=path.with_name(f"{stem}_evidently.json"),
                summary=summary,
            )
        )
    found.sort(key=lambda r: (r.summary.created_at, r.stem), reverse=True)
    return found


def prune(reports_dir: Path, keep: int) -> list[str]:
    """Delete every report but the newest ``keep``; returns the removed stems."""
    removed: list[str] = []
    for old in list_reports(reports_dir)[max(keep, 0) :]:
        for path in old.files:
            path.unlink(missing_ok=True)
        removed.append(old.stem)
    return removed


def write_atomic(path: Path, text: str) -> None:
    """Write to a hidden temporary file beside ``path``, then rename it into place.

    The temporary name carries the process id: the sidecar and the performance monitor both
    rewrite ``index.html``, and must not write into each other's temporary file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
