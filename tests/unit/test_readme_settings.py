"""README's configuration table lists every setting, once, with its real default."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(FRAUDSCORE_[A-Z0-9_]+)` \|\s*([^|]*?)\s*\|", re.M)
# defaults that depend on the machine or are spelled out in words
DESCRIBED = {"FRAUDSCORE_WORKER_ID": "hostname", "FRAUDSCORE_KAFKA_CONFIG": "`{}`"}


def _rows() -> list[tuple[str, str]]:
    return [(m[1], m[2].strip()) for m in ROW.finditer(README.read_text())]


def _shown(default: object) -> str:
    if default is None:
        return ""
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return f"`{default}`"


def test_every_setting_has_exactly_one_row() -> None:
    names = [name for name, _ in _rows()]
    expected = {f"FRAUDSCORE_{field.upper()}" for field in Settings.model_fields}
    assert sorted(set(names) - expected) == [], "rows for settings that do not exist"
    assert sorted(expected - set(names)) == [], "settings missing from the README table"
    assert len(names) == len(set(names)), "a setting listed twice"


def test_defaults_in_the_table_are_the_real_ones() -> None:
    wrong = []
    for name, shown in _rows():
        field = Settings.model_fields[name.removeprefix("FRAUDSCORE_").lower()]
        if name in DESCRIBED:
            ok = shown == DESCRIBED[name]
        elif field.default_factory is not None:
            continue
        else:
            ok = shown == _shown(getattr(field.default, "value", field.default))
        if not ok:
            wrong.append(f"{name}: README says {shown!r}, the code {field.default!r}")
    assert wrong == []
