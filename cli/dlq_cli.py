"""``fraudscore dlq show|export|replay``: look at dead letters, hand them out, re-drive them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli import dlq
from core.kafka import DeliveryFailed
from core.settings import Settings

app = typer.Typer(
    help="Dead letters: show them, export them for fixing, replay them into the input topic.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)

FromBeginning = Annotated[
    bool,
    typer.Option(
        "--from-beginning", help="Ignore replay progress: read the whole DLQ from its start"
    ),
]
Limit = Annotated[int | None, typer.Option(help="At most N dead letters", min=1)]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (dlq.DlqError, DeliveryFailed) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command(
    "show",
    epilog="Example: fraudscore dlq show --from-beginning --limit 20",
)
def show(
    from_beginning: FromBeginning = False,
    limit: Limit = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Dead letters not yet replayed: where from, why, and the start of their (masked) bytes."""
    s = Settings()
    table = Table("dead letter", "stage", "reason", "origin", "value (masked)")
    with _errors():
        reader = dlq.open_reader(s)
        try:
            for r in dlq.read_dlq(reader, s.topic_dlq, from_beginning=from_beginning, limit=limit):
                if as_json:
                    print(json.dumps(r.as_json()))
                    continue
                h = r.headers
                origin = f"{h.get('origin_topic', '?')}:{h.get('origin_partition', '?')}"
                origin += f":{h.get('origin_offset', '?')}"
                value = (r.value or b"").decode("utf-8", "replace")
                table.add_row(
                    r.source, h.get("stage", "?"), h.get("reason", "?")[:80], origin, value[:60]
                )
        finally:
            reader.close()
    if not as_json:
        out.print(table)


@app.command(
    "export",
    epilog="Example: fraudscore dlq export dead.jsonl --from-beginning  "
    "(fix the lines, then: fraudscore dlq replay --file dead.jsonl)",
)
def export(
    path: Annotated[Path, typer.Argument(help="JSON lines file to write")],
    from_beginning: FromBeginning = False,
    limit: Limit = None,
) -> None:
    """Write dead letters as JSON lines (source, key, value, headers) for the producer to fix."""
    s = Settings()
    n = 0
    with _errors(), path.open("w") as f:
        reader = dlq.open_reader(s)
        try:
            for r in dlq.read_dlq(reader, s.topic_dlq, from_beginning=from_beginning, limit=limit):
                f.write(json.dumps(r.as_json()) + "\n")
                n += 1
        finally:
            reader.close()
    out.print(f"wrote {n:,} dead letters to {path}")


@app.command(
    "replay",
    epilog="Examples: fraudscore dlq replay --dry-run; fraudscore dlq replay --file fixed.jsonl",
)
def replay(
    file: Annotated[
        Path | None, typer.Option(help="Replay fixed events from this JSON lines file instead")
    ] = None,
    from_beginning: FromBeginning = False,
    dry_run: Annotated[bool, typer.Option(help="Validate and count; send nothing")] = False,
    limit: Limit = None,
) -> None:
    """Send dead letters that now pass the event contract back to the input topic.

    Progress is remembered (a consumer group of its own), so running it again sends nothing
    twice; records that still fail stay in the DLQ and are counted by reason.
    """
    s = Settings()
    with _errors():
        if file is not None:
            if not file.exists():
                raise dlq.DlqError(f"{file} does not exist; write one with `fraudscore dlq export`")
            report = dlq.replay(s, dlq.read_file(file), dry_run=dry_run)
        else:
            reader = dlq.open_reader(s)
            try:
                records = list(
                    dlq.read_dlq(reader, s.topic_dlq, from_beginning=from_beginning, limit=limit)
                )
                report = dlq.replay(s, records, dry_run=dry_run)
                if not dry_run:
                    dlq.commit_read(reader, s.topic_dlq, records)
            finally:
                reader.close()
    verb = "would send" if dry_run else "sent"
    out.print(
        f"read {report.read:,} dead letters; {verb} {report.sent:,} to {s.topic_transactions}; "
        f"{sum(report.still_bad.values()):,} still fail the contract"
    )
    for reason, n in report.still_bad.most_common():
        out.print(f"  {n:>6,}  {reason}")
