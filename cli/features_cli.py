"""``fraudscore features``: the feature store's windows rebuilt from the topics, and audited.

``verify`` recomputes a sample of the features the workers served (the samples topic) with the
training code, from the transactions and labels topics, and lists what differs (exit 1).

``rebuild``:

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
from models.errors import DataError
from monitoring.state_audit import audit

app = typer.Typer(
    help="The feature store: rebuild its windows from the topics, audit what it served.",
    no_args_is_help=True,
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


@app.command("verify")
def verify_cmd(
    sample: Annotated[int, typer.Option(min=1, help="Served events to check")] = 1000,
    seed: Annotated[int, typer.Option(help="Which random sample (the same seed, the same)")] = 0,
    show: Annotated[int, typer.Option(min=0, help="Mismatches to list")] = 20,
) -> None:
    """Recompute sampled served events' features from the topics and compare (exit 1: skew).

    The served features are those on the samples topic (FRAUDSCORE_SAMPLE_RATE of the events);
    each is recomputed with the training code from the transactions and labels topics.

    Example: fraudscore features verify --sample 500
    """
    settings = Settings()
    try:
        check_topics(
            settings,
            [settings.topic_transactions, settings.topic_labels, settings.topic_samples],
        )
        with steps() as (tick, say):
            say("reading the samples, transactions and labels topics")
            report = audit(settings, sample=sample, seed=seed, tick=tick)
    except (StartupError, KafkaException, DataError) as exc:
        raise _fail(exc) from None
    typer.echo(
        f"checked {report.checked:,} served events ({report.eligible:,} of {report.served:,} "
        f"sampled have their whole history on the topics): "
        f"{report.mismatched_events:,} with features other than the training code's"
    )
    for m in report.mismatches[:show]:
        typer.echo(f"  {m.event_id}  {m.feature}: served {m.served:g}, recomputed {m.recomputed:g}")
    if report.by_feature:
        counts = ", ".join(f"{name} {n:,}" for name, n in sorted(report.by_feature.items()))
        typer.echo(f"mismatches by feature: {counts}")
    if report.checked == 0:
        raise _fail("no served event to check: is FRAUDSCORE_SAMPLE_RATE 0, or the topics empty?")
    if not report.clean:
        raise typer.Exit(1)
