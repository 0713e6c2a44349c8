"""``fraudscore rules validate|show``: check a policy file before it can act, and read it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from decision.policy import Policy, PolicyError, load_policy

app = typer.Typer(
    help="Rules and policies beside the model: validate a policy file, show its rules.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

Files = Annotated[list[Path], typer.Argument(help="Policy files (YAML or JSON)")]


def _summary(policy: Policy) -> str:
    shadow = sum(r.mode == "shadow" for r in policy.rules)
    active = len(policy.rules) - shadow
    return f"policy {policy.name!r}: {active} active rule(s), {shadow} in shadow"


@app.command("validate", epilog="Example: fraudscore rules validate policies/example.yaml")
def validate(files: Files) -> None:
    """Parse and check each file: every rule's expression, field names, actions, unique ids.

    Exits 1 if any file is refused; each problem is one line naming the rule and the position.
    """
    refused = 0
    for path in files:
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            refused += 1
            for line in exc.problems:
                err.print(f"[red]refused:[/red] {path}: {line}", highlight=False, soft_wrap=True)
            continue
        out.print(f"[green]ok[/green] {path}: {_summary(policy)}", highlight=False, soft_wrap=True)
    if refused:
        raise typer.Exit(1)


@app.command("show", epilog="Example: fraudscore rules show policies/example.yaml")
def show(path: Annotated[Path, typer.Argument(help="A policy file")]) -> None:
    """The policy's rules in order: id, action, mode, condition and description."""
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table("id", "action", "mode", "when", "description", title=_summary(policy))
    for r in policy.rules:
        table.add_row(r.id, r.action, r.mode, r.when, r.description)
    out.print(table)
