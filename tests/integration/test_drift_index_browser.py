"""The reports folder in a real browser: the index renders, lists reports newest first, links work.

Three real reports (``run_drift`` on small synthetic frames, stored with ``save_report``) and
their index are served by the sidecar's own HTTP server on a free loopback port, then opened in
headless Debian Chromium. The index's screenshot is kept as ``var/test-artifacts/drift-index.png``
for people to look at; its rendered DOM is parsed to check the rows (order, status, links); every
link must answer 200 from the same server, and each linked Evidently report (a JavaScript page)
must render in the browser without a script error.

Needs ``/usr/bin/chromium`` (Debian package ``chromium``); skipped with that reason without it.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from monitoring.drift.report import run_drift
from monitoring.drift.store import StoredReport, list_reports, save_report
from monitoring.edges import serve_reports
from monitoring.index_page import write_index

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
COLUMNS = ["amount", "customer_tx_count_7d", "is_night"]
BROWSER_TIMEOUT_S = 90.0


def frame(n: int, seed: int, amount_factor: float = 1.0, score_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 25.0, n) * amount_factor,
            "customer_tx_count_7d": rng.poisson(12.0, n).astype(float),
            "is_night": (rng.random(n) < 0.2).astype(float),
            "score": np.clip(rng.beta(1.0, 20.0, n) + score_shift, 0.0, 1.0),
            "event_time": pd.date_range("2025-06-01", periods=n, freq="10s", tz="UTC"),
        }
    )


@pytest.fixture(scope="module")
def reports_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three reports, oldest first: v1 calm, v1 drifted (amounts x3, score up), v2 calm."""
    folder = tmp_path_factory.mktemp("reports")
    reference = frame(1000, 0)
    for version, current in (
        ("v1", frame(300, 1)),
        ("v1", frame(300, 2, amount_factor=3.0, score_shift=0.2)),
        ("v2", frame(300, 3)),
    ):
        summary, snapshot = run_drift(reference, current, columns=COLUMNS, model_version=version)
        save_report(folder, summary, snapshot, keep=10)
    write_index(folder)
    return folder


@pytest.fixture(scope="module")
def base_url(reports_dir: Path) -> Iterator[str]:
    server = serve_reports(0, CollectorRegistry(), reports_dir, host="127.0.0.1")
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Browser:
    """Headless Chromium with a throw-away profile and no traffic of its own."""

    profile: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",  # runs as root in CI containers
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",  # page console messages (script errors) on stderr
                f"--user-data-dir={self.profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=BROWSER_TIMEOUT_S,
            check=False,
        )
        assert result.returncode == 0, f"chromium {args}: {result.stderr[-2000:]}"
        errors = [line for line in result.stderr.splitlines() if "Uncaught" in line]
        assert not errors, f"script errors in {args[-1]}: {errors}"
        return result

    def dump_dom(self, url: str) -> str:
        return self.run("--dump-dom", url).stdout

    def screenshot(self, url: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.run(f"--screenshot={path}", "--window-size=1280,900", url)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent: install the Debian package 'chromium'")
    return Browser(tmp_path_factory.mktemp("chromium-profile"))


@dataclass
class Row:
    cells: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # link text -> href


class IndexRows(HTMLParser):
    """The body rows of the index table: each cell's text and each link's href by its text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Row] = []
        self._in_body = False
        self._cell: list[str] | None = None
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append(Row())
        elif self._in_body and tag == "td":
            self._cell = []
        elif self._cell is not None and tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].cells.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "a":
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._cell is None:
            return
        self._cell.append(data)
        if self._href is not None:
            self.rows[-1].links[data.strip()] = self._href


def index_rows(dom: str) -> list[Row]:
    parser = IndexRows()
    parser.feed(dom)
    return parser.rows


def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def test_index_renders_in_chromium_and_every_report_link_opens(
    reports_dir: Path, base_url: str, browser: Browser
) -> None:
    stored = list_reports(reports_dir)
    assert [(r.summary.model_version, r.summary.status) for r in stored] == [
        ("v2", "no_drift"),
        ("v1", "drift"),
        ("v1", "no_drift"),
    ], "the fixture's reports, newest first, as the store lists them"

    shot = ARTIFACTS / "drift-index.png"
    browser.screenshot(base_url + "index.html", shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

    dom = browser.dump_dom(base_url + "index.html")
    assert "<title>fraudscore drift reports</title>" in dom
    assert "3 report(s), newest first" in dom
    rows = index_rows(dom)
    assert [expected_cells(r) for r in stored] == [(row.cells[0], row.cells[4]) for row in rows]
    assert "amount" in rows[1].cells[5] and "drifted" in rows[1].cells[6]

    for report, row in zip(stored, rows, strict=True):
        assert row.links == {
            "report": report.html.name,
            "summary": report.json.name,
            "evidently": report.evidently_json.name,
        }
        for href in row.links.values():
            status, body = fetch(base_url + href)
            assert status == 200 and body, href
        report_dom = browser.dump_dom(base_url + row.links["report"])
        assert_evidently_rendered(report_dom, report)


def expected_cells(report: StoredReport) -> tuple[str, str]:
    """Created time and status as the index shows them."""
    created = report.summary.created_at.astimezone(UTC)
    label = "drift" if report.summary.status == "drift" else "no drift"
    return f"{created:%Y-%m-%d %H:%M:%S}", label


def assert_evidently_rendered(dom: str, report: StoredReport) -> None:
    """Evidently's page is an empty div plus scripts until its JavaScript has drawn it."""
    assert 'id="root_metric' in dom and "MuiBox-root" in dom, report.html.name
    verdict = "is detected" if report.summary.dataset_drift else "is NOT detected"
    verdict = f"Dataset Drift {verdict}"
    assert verdict in dom, f"{report.html.name}: no '{verdict}'"
