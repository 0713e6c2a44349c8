"""Unit tests open no socket: any connect attempt fails the test loudly.

The error is deliberately not an ``OSError``: code under test that treats connection failures as
"service down" must not be able to swallow it and pass by accident.
"""

from __future__ import annotations

import socket
from typing import Any, NoReturn

import pytest


class SocketBlockedError(RuntimeError):
    """Raised when a unit test tries to connect anywhere."""


def _refuse(self: socket.socket, address: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise SocketBlockedError(f"unit tests open no socket (tried to connect to {address!r})")


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patch connect/connect_ex on every Python socket for the duration of each unit test."""
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
