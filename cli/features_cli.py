"""``fraudscore features rebuild``: the feature store's windows rebuilt from the topics.

For a Redis that restarted empty (or was replaced): the labels and transactions topics are
replayed into it through the workers' own batch script, over the features' horizon (44 days of
record time by default), with a progress bar; nothing is published. Run it before the workers
start, or while they run (the script is idempotent per event id). Interrupted, it resumes from
where it stopped; ``--fresh`` starts over.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.markup import escape

from core.errors import StartupError
from core.kafka import check_topics
from core.settings import Settings
from decision.history import HORIZON_MS, retention_warnings
from decision.rebuild import rebuild
from features.online import StoreUnavailable
from features.open import open_store
from models.cli_common import steps

app = typer.Typer(
    help="The feature store: rebuild its windows from the topics.", no_args_is_help=True
)
err = Console(stderr=True)


def _fail(message: object) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(str(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@app.command("rebuild")
def rebuild_cmd(
    since: Annotated[
        datetime | None,
        typer.Option(help="Replay transactions recorded from this time (default: 44 days ago)"),
    ] = None,
    fresh: Annotated[bool, typer.Option(help="Ignore an interrupted rebuild's progress")] = False,
) -> None:
    """Replay the labels and transactions topics into Redis (idempotent, resumable).

    Example: fraudscore features rebuild --since 2026-11-01
    """
    settings = Settings()
    since_ms = None if since is None else int(since.timestamp() * 1000)
    try:
        check_topics(settings, [settings.topic_transactions, settings.topic_labels])
        store = open_store(settings)
        for warning in retention_warnings(settings):
            err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
        with steps() as (tick, say):
            say("replaying the labels, then the transactions")
            stats = rebuild(settings, store, since_ms=since_ms, fresh=fresh, progress=tick)
    except (StartupError, StoreUnavailable, KafkaException) as exc:
        raise _fail(exc) from None
    rate = stats.transactions / stats.seconds if stats.seconds > 0 else 0.0
    typer.echo(
        f"rebuilt {settings.redis_key_prefix}: {stats.labels:,} labels and "
        f"{stats.transactions:,} transactions in {stats.seconds:.1f} s ({rate:,.0f}/s)"
        + (
            f"; {stats.rejected:,} records the workers dead-letter skipped"
            if stats.rejected
            else ""
        )
        + ("; resumed an interrupted rebuild" if stats.resumed else "")
        + ("" if since is not None else f"; horizon {HORIZON_MS // 86_400_000} days")
    )
    if stats.history_since_ms is not None:
        typer.echo(f"the store holds every event {_since(stats.history_since_ms)}")


def _since(ms: int) -> str:
    if ms == 0:
        return "the topics ever held (history mark 0)"
    when = datetime.fromtimestamp(ms / 1000, UTC)
    return f"from {when:%Y-%m-%d %H:%M:%S} UTC on (history mark {ms})"
