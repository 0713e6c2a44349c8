"""JSON Schema files of the wire contract, generated from ``core.messages``.

The files in ``schemas/`` are what upstream producers read; ``check`` is what the test suite
runs so that a model change without a regenerated schema fails CI.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from core.messages import SCHEMA_VERSION, WIRE_MODELS
from monitoring.drift.summary import DriftEvent
from monitoring.performance.types import PerformanceAlarm

MODELS: dict[str, type[BaseModel]] = {
    **WIRE_MODELS,
    "drift_event": DriftEvent,
    "performance_alarm": PerformanceAlarm,  # also on fraud.drift, told apart by "event"
}

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def render() -> dict[str, str]:
    """File name -> JSON text for every wire model."""
    out = {}
    for name, model in MODELS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"https://fraudscore.dev/schemas/{name}.v{SCHEMA_VERSION}.json"
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        out[f"{name}.v{SCHEMA_VERSION}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, text in render().items():
        path = directory / fname
        path.write_text(text)
        written.append(path)
    return written


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing or differ from the models."""
    return [
        fname
        for fname, text in render().items()
        if not (directory / fname).is_file() or (directory / fname).read_text() != text
    ]
