"""One small HTTP server for every long-running process: ``/metrics``, ``/healthz``, ``/readyz``.

``/metrics`` is the Prometheus exposition of the given registry; ``/healthz`` and ``/readyz``
answer 200 or 503 from the process's ``Probe`` (none: always 200). With ``directory`` any other
path is a file under it (the drift sidecar serves its reports), GET and HEAD only, nothing above
it (``SimpleHTTPRequestHandler`` resolves paths inside its directory).

A stdlib server rather than prometheus_client's ``start_http_server``: one port to open, scrape
and document, and a ``shutdown()`` that really stops it (``start_http_server`` leaves its thread
running until the process exits, which leaks across tests).
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class Probe(Protocol):
    def live(self) -> bool: ...

    def ready(self) -> bool: ...


class _Handler(SimpleHTTPRequestHandler):
    def __init__(
        self,
        *args: Any,
        registry: CollectorRegistry,
        probe: Probe | None,
        static: bool,
        **kwargs: Any,
    ) -> None:
        self.registry, self.probe, self.static = registry, probe, static
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._reply(200, CONTENT_TYPE_LATEST, generate_latest(self.registry))
        elif path == "/healthz":
            ok = self.probe is None or self.probe.live()
            self._reply(200 if ok else 503, "text/plain", b"ok\n" if ok else b"stale\n")
        elif path == "/readyz":
            ok = self.probe is None or self.probe.ready()
            self._reply(200 if ok else 503, "text/plain", b"ready\n" if ok else b"not ready\n")
        elif self.static:
            super().do_GET()
        else:
            self._reply(404, "text/plain", b"not found\n")

    def do_HEAD(self) -> None:
        if self.static:
            super().do_HEAD()
        else:
            self._reply(405, "text/plain", b"")

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # scrapes every few seconds would drown the process's own log lines


def serve(
    port: int,
    registry: CollectorRegistry,
    probe: Probe | None = None,
    *,
    directory: Path | None = None,
    host: str = "0.0.0.0",
    name: str = "metrics-http",
) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; ``.shutdown()`` then ``.server_close()`` stops it.

    ``port=0`` picks a free port (read it back from ``server.server_port``).
    """
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    handler = partial(
        _Handler,
        registry=registry,
        probe=probe,
        static=directory is not None,
        directory=str(directory or "."),
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    log.info("serving /metrics, /healthz, /readyz on http://%s:%d/", host, server.server_port)
    return server
