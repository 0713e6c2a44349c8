"""``fraudscore services ...``: start, stop and inspect the local Kafka and Redis.

The lead mounts ``services_app`` under the main CLI. Every ``DevstackError`` becomes one red
message and exit code 1; a traceback here would only ever mean a bug.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from devstack import stack
from devstack.errors import DevstackError
from devstack.settings import DevstackSettings
from devstack.topics import DEFAULT_TOPICS, ensure_topics

services_app = typer.Typer(
    help="Real Kafka (KRaft) and Redis on loopback, for tests and the demo without Docker.",
    no_args_is_help=True,
)
_out = Console()
_err = Console(stderr=True)


@contextmanager
def _clean_errors() -> Iterator[None]:
    """Turn expected failures into one red message and exit code 1."""
    try:
        yield
    except DevstackError as exc:
        _err.print(Text(f"error: {exc}", style="red"), soft_wrap=True)
        raise typer.Exit(1) from None


@services_app.command("up")
def up_command(
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for each service to become healthy.")
    ] = 120.0,
) -> None:
    """Start the local Kafka broker and Redis server, then create the topics.

    Idempotent: services already running from this services directory are left alone.
    The first start downloads Kafka's jars with Maven; later starts are offline.

    Example: fraudscore services up --timeout 180
    """
    with _clean_errors():
        result = stack.up(timeout_s=timeout, console=_err)
    _print_status(result)


@services_app.command("down")
def down_command(
    grace: Annotated[
        float, typer.Option(help="Seconds to wait after SIGTERM before sending SIGKILL.")
    ] = 15.0,
) -> None:
    """Stop the services that `up` started from this services directory.

    Example: fraudscore services down --grace 5
    """
    with _clean_errors():
        stopped = stack.down(grace_s=grace)
    _out.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@services_app.command("status")
def status_command() -> None:
    """Show whether the local Kafka and Redis are running, their pids and addresses.

    Example: fraudscore services status
    """
    with _clean_errors():
        result = stack.status()
    _print_status(result)


@services_app.command("topics")
def topics_command(
    bootstrap: Annotated[
        str | None,
        typer.Option(
            help="Kafka bootstrap servers; default $FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS, "
            "else the local broker."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to keep retrying while the broker is not ready.")
    ] = 60.0,
) -> None:
    """Create the project's topics on a running broker (existing topics are kept as they are).

    Used by compose's one-shot init container; starts nothing.

    Example: fraudscore services topics --bootstrap kafka:9092
    """
    settings = DevstackSettings()
    target = bootstrap or settings.kafka_bootstrap_servers or settings.kafka_bootstrap
    with _clean_errors():
        created = ensure_topics(target, DEFAULT_TOPICS, timeout_s=timeout)
    for spec in DEFAULT_TOPICS:
        state = "created" if spec.name in created else "exists"
        _out.print(f"{spec.name:<28} {spec.partitions:>2} partitions  {state}")


def _print_status(result: stack.StackStatus) -> None:
    """A table of the services, one row each."""
    table = Table(title=f"local services ({result.services_dir})")
    for column in ("service", "state", "pid", "address"):
        table.add_column(column)
    for svc in result.services:
        state = Text("running", style="green") if svc.running else Text("stopped", style="red")
        if svc.started:
            state.append(" (started now)", style="dim")
        table.add_row(svc.name, state, str(svc.pid or "-"), svc.address)
    _out.print(table)


if __name__ == "__main__":
    services_app()
