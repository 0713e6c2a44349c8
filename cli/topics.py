"""``fraudscore topics``: create the project's topics on a running broker, from the service.

The one-shot init container of compose (and a Kubernetes Job) runs it from the service image,
which leaves the local devstack out; ``fraudscore services topics`` does the same on a machine
with the devstack installed.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from core.settings import Settings
from core.topics import DEFAULT_TOPICS, TopicError, ensure_topics

_out = Console()
_err = Console(stderr=True)


def topics_cmd(
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Kafka bootstrap servers; default $FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS"),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to keep retrying while the broker is not ready.")
    ] = 60.0,
) -> None:
    """Create the project's topics on a running broker (existing topics are kept as they are).

    Example: fraudscore topics --bootstrap kafka:9092
    """
    target = bootstrap or Settings().kafka_bootstrap_servers
    try:
        created = ensure_topics(target, DEFAULT_TOPICS, timeout_s=timeout)
    except TopicError as exc:
        _err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    for spec in DEFAULT_TOPICS:
        state = "created" if spec.name in created else "exists"
        _out.print(f"{spec.name:<28} {spec.partitions:>2} partitions  {state}")
