"""Log lines carry where they come from: as fields in JSON, as key=value in text."""

from __future__ import annotations

import json
import logging

from core.logs import JsonFormatter, TextFormatter


def _record(**extra: object) -> logging.LogRecord:
    rec = logging.makeLogRecord(
        {"name": "worker.guard", "levelname": "WARNING", "levelno": 30, "msg": "dead-lettered"}
    )
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_json_lines_have_the_origin_as_fields() -> None:
    line = JsonFormatter("w1").format(_record(topic="tx", partition=3, offset=42, reason="x: y"))
    obj = json.loads(line)
    assert obj["msg"] == "dead-lettered" and obj["level"] == "WARNING" and obj["worker"] == "w1"
    assert (obj["topic"], obj["partition"], obj["offset"], obj["reason"]) == ("tx", 3, 42, "x: y")
    assert obj["ts"].endswith("+00:00")


def test_text_lines_append_the_origin() -> None:
    text = TextFormatter("w1").format(_record(topic="tx", partition=3, offset=42))
    assert "dead-lettered topic=tx partition=3 offset=42" in text
    assert "WARNING w1 worker.guard" in text


def test_a_line_without_extras_is_unchanged() -> None:
    assert TextFormatter().format(_record()).endswith("worker.guard: dead-lettered")
    assert set(json.loads(JsonFormatter().format(_record()))) == {"ts", "level", "logger", "msg"}
