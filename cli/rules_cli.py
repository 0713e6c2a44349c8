"""``fraudscore rules validate|show|backtest|promote|rollback|list|audit``: policies beside the
model.

``validate`` and ``show`` read a file, ``backtest`` replays history (``cli.backtest_cli``); the
others work on the policies stored in the model
registry (``FRAUDSCORE_MODEL_DIR``), which every worker follows within one model-check interval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.backtest_cli import EPILOG as BACKTEST_EPILOG
from cli.backtest_cli import backtest_cmd
from core.settings import Settings
from decision import policy_store
from decision.policy import Policy, PolicyError, load_policy

app = typer.Typer(
    help="Rules and policies beside the model: validate, backtest, promote, roll back.",
    no_args_is_help=True,
)
app.command("backtest", epilog=BACKTEST_EPILOG)(backtest_cmd)
out = Console()
err = Console(stderr=True)

Files = Annotated[list[Path], typer.Argument(help="Policy files (YAML or JSON)")]
Reason = Annotated[str, typer.Option(help="Why, for the audit trail")]
Author = Annotated[str, typer.Option(help="Who, for the audit trail")]


def _refused(exc: PolicyError) -> typer.Exit:
    for line in exc.problems:
        err.print(f"[red]refused:[/red] {exc.source}: {line}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


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
            _refused(exc)
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


@app.command(
    "promote",
    epilog="Example: fraudscore rules promote policies/example.yaml --reason 'Q4 rules' "
    "--author alice",
)
def promote(
    path: Annotated[Path, typer.Argument(help="A policy file")],
    reason: Reason,
    author: Author,
) -> None:
    """Validate the file, store it in the registry and put it in force for every worker.

    A policy that does not validate is refused and nothing changes.
    """
    root = Settings().model_dir
    try:
        version = policy_store.promote(root, path, reason=reason, author=author)
    except PolicyError as exc:
        raise _refused(exc) from None
    out.print(f"policy {version} in force (workers follow within a model-check interval)")


@app.command("rollback", epilog="Example: fraudscore rules rollback --reason 'too many reviews'")
def rollback(reason: Reason, author: Author = "unknown") -> None:
    """Put the policy in force before the current one back."""
    try:
        version = policy_store.rollback(Settings().model_dir, reason=reason, author=author)
    except (policy_store.PolicyStoreError, PolicyError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"policy {version} in force again")


@app.command("list", epilog="Example: fraudscore rules list")
def list_cmd() -> None:
    """Stored policy versions, the one in force marked current."""
    table = Table("version", "name", "active rules", "shadow rules", "status")
    for p in policy_store.list_policies(Settings().model_dir):
        table.add_row(p.version, p.name, str(p.active), str(p.shadow), p.status)
    out.print(table)


@app.command("audit", epilog="Example: fraudscore rules audit")
def audit() -> None:
    """Every promotion and rollback: when, who, why, from which version to which."""
    table = Table("time", "action", "version", "previous", "author", "reason")
    for e in policy_store.audit_log(Settings().model_dir):
        table.add_row(
            *(str(e.get(k) or "") for k in ("time", "action", "version", "previous", "author")),
            str(e.get("reason") or ""),
        )
    out.print(table)
