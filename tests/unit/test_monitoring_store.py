"""The report store: three files per report, last K kept, newest first, an index that links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evidently.core.report import Snapshot

from monitoring.drift.report import DriftSummary, run_drift
from monitoring.drift.store import list_reports, prune, report_stem, save_report
from monitoring.index_page import write_index

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def report() -> tuple[DriftSummary, Snapshot]:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"amount": rng.normal(0, 1, 120), "score": rng.random(120)})
    cur = pd.DataFrame({"amount": rng.normal(3, 1, 120), "score": rng.random(120)})
    return run_drift(ref, cur, columns=["amount"], model_version="v1", table=False)


def at(summary: DriftSummary, minutes: int, version: str = "v1") -> DriftSummary:
    return summary.model_copy(
        update={"created_at": T0 + timedelta(minutes=minutes), "model_version": version}
    )


def test_save_writes_three_files(tmp_path: Path, report: tuple[DriftSummary, Snapshot]) -> None:
    summary, snap = report
    stored = save_report(tmp_path, at(summary, 0), snap, keep=5)
    assert stored.stem == "20250601T120000.000000Z_v1"
    assert stored.html.name == f"{stored.stem}.html" and "<html" in stored.html.read_text()
    assert stored.evidently_json.name == f"{stored.stem}_evidently.json"
    assert '"metrics"' in stored.evidently_json.read_text()
    assert DriftSummary.model_validate_json(stored.json.read_text()) == at(summary, 0)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_retention_and_newest_first(tmp_path: Path, report: tuple[DriftSummary, Snapshot]) -> None:
    summary, snap = report
    for minutes in (3, 0, 4, 1, 2):  # written out of order on purpose
        save_report(tmp_path, at(summary, minutes), snap, keep=3)
    listed = list_reports(tmp_path)
    assert [r.summary.created_at.minute for r in listed] == [4, 3, 2]
    assert len(list(tmp_path.iterdir())) == 9  # 3 reports x 3 files
    assert prune(tmp_path, 1) == [listed[1].stem, listed[2].stem]
    assert [r.stem for r in list_reports(tmp_path)] == [listed[0].stem]


def test_listing_skips_partial_and_unreadable(
    tmp_path: Path, report: tuple[DriftSummary, Snapshot]
) -> None:
    summary, snap = report
    good = save_report(tmp_path, at(summary, 0), snap, keep=5)
    (tmp_path / "20250601T130000.000000Z_v1.html").write_text("<html>half written</html>")
    (tmp_path / "20250601T140000.000000Z_v1.json").write_text("{not json")
    (tmp_path / "notes.json").write_text("{}")
    assert [r.stem for r in list_reports(tmp_path)] == [good.stem]
    assert list_reports(tmp_path / "absent") == []


def test_model_version_cannot_name_a_path(report: tuple[DriftSummary, Snapshot]) -> None:
    summary, _ = report
    stem = report_stem(at(summary, 0, version="../../etc/x_y"))
    assert re.fullmatch(r"20250601T120000\.000000Z_[A-Za-z0-9.-]+", stem)
    assert stem.endswith("Z_etc-x-y")


def test_index_lists_reports_newest_first_with_links(
    tmp_path: Path, report: tuple[DriftSummary, Snapshot]
) -> None:
    summary, snap = report
    drifted = at(summary, 5, version="v2<script>")
    assert drifted.status == "drift" and drifted.drifted_columns == ("amount",)
    old = at(summary, 0).model_copy(update={"status": "no_drift", "drifted_columns": ()})
    save_report(tmp_path, old, snap, keep=5)
    save_report(tmp_path, drifted, snap, keep=5)
    page = write_index(tmp_path).read_text()
    rows = re.findall(r"<tr><td>.*?</tr>", page)
    assert len(rows) == 2
    assert "v2&lt;script&gt;" in rows[0] and "<script>" not in page
    assert ">drift</span>" in rows[0] and "amount" in rows[0]
    assert ">no drift</span>" in rows[1]
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert len(hrefs) == 6
    assert all((tmp_path / h).is_file() for h in hrefs), hrefs
    assert hrefs[0].endswith(".html") and "v2-script" in hrefs[0]


def test_index_of_an_empty_folder(tmp_path: Path) -> None:
    page = write_index(tmp_path / "reports").read_text()
    assert "No drift reports yet" in page
