"""Log set-up for every fraudscore process: plain text for a terminal, JSON lines for a collector.

The loop passes where a line comes from as ``extra`` fields (``topic``, ``partition``,
``offset``, ``reason``, ...). The text format appends them as ``key=value``; the JSON format
makes them fields, so "every dead letter of partition 3 today" is a query, not a grep. Nothing
here sees an event's content: reasons are PAN-masked before they are logged, and values never
are.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

# LogRecord attributes that are not ``extra`` fields
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def __init__(self, worker_id: str = "") -> None:
        super().__init__()
        self._worker_id = worker_id

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self._worker_id:
            line["worker"] = self._worker_id
        line.update(extras(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self, worker_id: str = "") -> None:
        super().__init__(f"%(asctime)s %(levelname)s {worker_id} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = extras(record)
        if not fields:
            return text
        return text + " " + " ".join(f"{k}={v}" for k, v in fields.items())


def setup_logging(level: str, worker_id: str = "", fmt: str = "text") -> None:
    """Configure the root logger once per process (``fmt``: ``text`` or ``json``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(worker_id) if fmt == "json" else TextFormatter(worker_id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
