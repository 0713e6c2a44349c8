"""The kernel's exception tree.

- ``StartupError``: a precondition of serving is not met (Kafka or Redis does not answer, a
  topic is missing); the message says what to do, and the CLI prints it as one line.
"""

from __future__ import annotations


class StartupError(Exception):
    """A precondition of serving is not met; the message says what to do."""
