"""What ``fraudscore drift`` and ``fraudscore perf`` share: consoles, settings, one red line.

Errors a user can fix print one red line and exit 1, with no traceback, in both groups alike.
"""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from core.settings import Settings

out = Console()
err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with CLI overrides; one red line when invalid."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise fail(f"invalid setting {where}: {first['msg']}") from None
