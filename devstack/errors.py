"""Errors raised by the local services toolkit.

One small tree, so the CLI can turn every expected failure into one red line and exit code 1
instead of a traceback, and callers can catch exactly what they can act on::

    DevstackError                 anything devstack expected could go wrong
    ├── ToolMissingError          java / mvn / redis-server missing (message says how to install)
    ├── PortInUseError            a port we need answers, but not from a process we started
    ├── ServiceStartError         a service did not become healthy in time (message: log tail)
    ├── JarResolutionError        Maven could not resolve the Kafka broker's jars
    └── TopicError                a topic could not be created (broker unreachable, bad spec)

Foreign errors (OSError, subprocess failures, KafkaException) are wrapped once, where they happen,
with ``raise ... from``.
"""

from __future__ import annotations

from core.topics import TopicError as KernelTopicError


class DevstackError(Exception):
    """Base of every error devstack raises on purpose."""


class ToolMissingError(DevstackError):
    """A required executable is not installed."""


class PortInUseError(DevstackError):
    """A port we need is held by a process this services directory did not start."""


class ServiceStartError(DevstackError):
    """A service process exited or did not answer its health check in time."""


class JarResolutionError(DevstackError):
    """Maven failed to download or copy the Kafka broker's jars."""


class TopicError(DevstackError, KernelTopicError):
    """Topics could not be created on the broker (the kernel's error, in devstack's tree)."""


INSTALL_HINT = (
    "install it with `apt-get install -y default-jre-headless maven redis-server` "
    "(Debian/Ubuntu) or `brew install openjdk maven redis` (macOS)"
)


def missing_tool(tool: str, why: str) -> ToolMissingError:
    """Build the one-line error for an absent executable, with the install command."""
    return ToolMissingError(f"`{tool}` not found on PATH ({why}); {INSTALL_HINT}")
