"""Append-only logs of JSON objects, one a line: the model registry's decisions, the policy
audit trail, the lists' audit in Redis.

Appends are one ``write`` of a whole line with ``O_APPEND`` and an ``fsync``, so concurrent
writers never interleave within a line and a line is on disk when the call returns. Readers skip
what is not a JSON object (a torn last line after a crash).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def append_line(path: Path, entry: Mapping[str, Any]) -> str:
    """Append ``entry`` as one JSON line (non-JSON values as ``str``); returns the line."""
    text = json.dumps(entry, default=str)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return text


def objects(lines: Iterable[str | bytes]) -> list[dict[str, Any]]:
    """The lines that are JSON objects, in order; anything else is skipped."""
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out
