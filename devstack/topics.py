"""The project's topics, created on the local stack: the kernel's ``core.topics`` with its error
in devstack's tree, so the devstack CLI and the demo turn it into one red line."""

from __future__ import annotations

from collections.abc import Iterable

from core import topics
from core.topics import DEFAULT_TOPICS, TopicSpec
from devstack.errors import TopicError

__all__ = ["DEFAULT_TOPICS", "TopicSpec", "ensure_topics"]


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], timeout_s: float = 30.0) -> list[str]:
    """``core.topics.ensure_topics``, raising devstack's ``TopicError``."""
    try:
        return topics.ensure_topics(bootstrap, specs, timeout_s)
    except topics.TopicError as exc:
        raise TopicError(str(exc)) from exc
