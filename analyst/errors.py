"""The analyst tools' exceptions, one small tree:

    AnalystError            base: the CLI prints its message as one red line and exits 1
    ├── InputError          what was typed or pointed at is unusable (a time without offset, a
    │                       PAN-like id, an unreadable alert file): fix the command line
    └── BrokerError         Kafka does not answer, a topic is missing, or a label was not
                            acknowledged; wraps the librdkafka error once, at ``analyst.kafka``

Messages never carry a card number: whatever the user typed is masked before it is echoed.
"""

from __future__ import annotations


class AnalystError(Exception):
    """An expected failure of an analyst command."""


class InputError(AnalystError):
    """The command line or a file it names is not usable."""


class BrokerError(AnalystError):
    """Kafka is unreachable, a topic is missing, or a delivery was not acknowledged."""
