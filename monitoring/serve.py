"""One small HTTP server for the sidecar: ``/metrics``, ``/healthz`` and the reports folder.

Why one stdlib server instead of prometheus_client's ``start_http_server`` plus a second one for
the reports: a single port to open, scrape and document, and a ``shutdown()`` that really stops
it (``start_http_server`` leaves its thread running until the process exits, which leaks across
tests). Read-only: GET and HEAD only, files served from ``reports_dir`` and nothing above it
(``SimpleHTTPRequestHandler`` resolves paths inside its directory).
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class _Handler(SimpleHTTPRequestHandler):
    registry: CollectorRegistry

    def __init__(self, *args: Any, registry: CollectorRegistry, **kwargs: Any) -> None:
        self.registry = registry
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._reply(200, CONTENT_TYPE_LATEST, generate_latest(self.registry))
        elif path == "/healthz":
            self._reply(200, "text/plain; charset=utf-8", b"ok\n")
        else:
            super().do_GET()

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s - " + format, self.address_string(), *args)


def serve_http(
    reports_dir: Path, registry: CollectorRegistry, port: int, host: str = "0.0.0.0"
) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; call ``.shutdown()`` then ``.server_close()`` to stop.

    ``port=0`` picks a free port (read it back from ``server.server_address``).
    """
    reports_dir.mkdir(parents=True, exist_ok=True)
    handler = partial(_Handler, registry=registry, directory=str(reports_dir))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="drift-http", daemon=True)
    thread.start()
    log.info("serving /metrics and drift reports on http://%s:%d/", host, server.server_port)
    return server
