"""Errors raised by the monitoring packages (drift and performance).

One small tree, so the CLI turns every expected failure into one red line and exit code 1, and
the sidecar can tell bad *data* (log it, skip it, keep running) from broken *infrastructure*
(raise, stop)::

    MonitoringError              anything monitoring expected could go wrong
    ├── InputDataError           a reference/current frame or file is unusable (missing columns,
    │                            empty, unreadable); the message names the file or the columns
    ├── EvidentlyShapeError      Evidently's output no longer has the shape report.py reads; an
    │                            upgrade changed it (fail loudly rather than report nonsense)
    ├── BrokerError              Kafka consume/produce/delivery failed (wraps KafkaException)
    └── StateStoreError          the performance store (SQLite) failed (wraps sqlite3.Error)

Foreign errors are wrapped once, where they happen, with ``raise ... from``.
"""

from __future__ import annotations


class MonitoringError(Exception):
    """Base of every error the monitoring package raises on purpose."""


class InputDataError(MonitoringError):
    """A frame or file given to the drift report cannot be used."""


class EvidentlyShapeError(MonitoringError):
    """Evidently returned something report.py does not understand (version drift of its API)."""


class BrokerError(MonitoringError):
    """The Kafka broker refused or failed a consume, produce or delivery."""


class StateStoreError(MonitoringError):
    """The performance monitor's SQLite state cannot be opened, read or written."""
