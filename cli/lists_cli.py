"""``fraudscore lists add|remove|show|audit``: allow and block lists of customers, terminals,
merchant categories and countries, kept in Redis beside the features.

Every worker follows a change within ``FRAUDSCORE_LIST_CHECK_INTERVAL_S``, and every change is in
the audit trail with who, when and why. An entry is checked before Redis is asked anything: an
unknown list or field, or a value that looks like a card number, is one red line and exit 1, and
so is a Redis that does not answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core.errors import StartupError
from core.settings import Settings
from features.lists import LIST_FIELDS, ListError, ListStore, check_entry
from features.online import StoreUnavailable
from features.open import open_lists

app = typer.Typer(
    help="Allow and block lists of customers, terminals, merchant categories and countries.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

Value = Annotated[str, typer.Argument(help="The value, as the events carry it (a token)")]
KindOpt = Annotated[str, typer.Option("--kind", help="block or allow")]
FieldOpt = Annotated[str, typer.Option("--field", help=", ".join(LIST_FIELDS))]
Reason = Annotated[str, typer.Option(help="Why, for the audit trail")]
Author = Annotated[str, typer.Option(help="Who, for the audit trail")]


def _fail(message: object) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(str(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _open(settings: Settings) -> ListStore:
    try:
        return open_lists(settings)
    except StartupError as exc:
        raise _fail(exc) from None


def _change(
    action: Literal["add", "remove"], kind: str, field: str, value: str, reason: str, author: str
) -> None:
    settings = Settings()
    try:
        check_entry(kind, field, value)
        store = _open(settings)
        change = store.add if action == "add" else store.remove
        changed = change(kind, field, value, reason=reason, author=author)
    except (ListError, StoreUnavailable) as exc:
        raise _fail(exc) from None
    where = f"the {kind} list of {field}"
    if not changed:
        state = "already on" if action == "add" else "not on"
        out.print(f"{value} was {state} {where}: nothing changed (audited)", highlight=False)
        return
    done = "added to" if action == "add" else "removed from"
    every = f"{settings.list_check_interval_s:g} s"
    out.print(f"{value} {done} {where}: workers follow within {every}", highlight=False)


@app.command(
    "add",
    epilog="Example: fraudscore lists add --kind block --field customer_id c42 "
    "--reason 'confirmed fraud' --author alice",
)
def add(value: Value, kind: KindOpt, field: FieldOpt, reason: Reason, author: Author) -> None:
    """Put a value on a list: a block list decides block, an allow list allow (block wins)."""
    _change("add", kind, field, value, reason, author)


@app.command(
    "remove",
    epilog="Example: fraudscore lists remove --kind block --field customer_id c42 "
    "--reason 'chargeback withdrawn' --author alice",
)
def remove(value: Value, kind: KindOpt, field: FieldOpt, reason: Reason, author: Author) -> None:
    """Take a value off a list."""
    _change("remove", kind, field, value, reason, author)


@app.command("show", epilog="Example: fraudscore lists show")
def show() -> None:
    """Every entry of every list, block lists first, with the lists' version."""
    try:
        lists = _open(Settings()).snapshot()
    except StoreUnavailable as exc:
        raise _fail(exc) from None
    entries = lists.entries()
    table = Table("list", "field", "value", title=f"lists version {lists.version}")
    for kind, field, value in entries:
        table.add_row(kind, field, value)
    out.print(table)
    out.print(f"{len(entries)} entries", highlight=False)


@app.command("audit", epilog="Example: fraudscore lists audit --limit 20")
def audit(
    limit: Annotated[int, typer.Option(help="The last N changes", min=1)] = 100,
) -> None:
    """The changes to the lists, newest last: when, what, who and why."""
    try:
        entries = _open(Settings()).audit(limit)
    except StoreUnavailable as exc:
        raise _fail(exc) from None
    keys = ("time", "action", "kind", "field", "value", "author", "reason")
    table = Table()
    table.add_column("time", no_wrap=True)
    for column in ("action", "list", "field", "value", "author", "reason"):
        table.add_column(column)
    for e in entries:
        table.add_row(*(str(e.get(k) or "") for k in keys))
    out.print(table)
