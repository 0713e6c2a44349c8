"""Errors the simulator raises on purpose.

One small tree, so the CLI turns every expected failure into one red line and exit code 1, and a
caller can catch exactly what it can act on::

    SimulatorError          anything the simulator expected could go wrong
    ├── DatasetError        a dataset file is missing, unreadable, or lacks published columns
    └── ProduceError        the broker is unreachable, a topic is missing, or a delivery failed

Foreign errors (OSError, pyarrow and pandas parse errors, KafkaException) are wrapped once, where
they happen, with ``raise ... from``.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every error the simulator raises on purpose."""


class DatasetError(SimulatorError):
    """A dataset could not be read or written, or does not have the published columns."""


class ProduceError(SimulatorError):
    """Events could not be delivered to Kafka (nothing after the first failure is trusted)."""
