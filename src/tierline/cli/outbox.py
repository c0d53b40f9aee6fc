"""``tierline outbox``: deliver, list and retry provider calls waiting after their commit."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tierline.cli.catalog import open_without_catalog
from tierline.cli.common import DatabaseURLOption, JsonOption, check_row_id, print_json
from tierline.cli.output import print_table

if TYPE_CHECKING:
    from tierline.outbox.service import DeliveryOutcome, OutboxItemInfo

app = typer.Typer(
    help="Deliver, list and retry provider calls queued by webhooks (the outbox).",
    no_args_is_help=True,
)

# Written out so `--help` needs no ORM; a test checks it against OutboxStatus.
OUTBOX_STATUSES = ("pending", "delivered", "failed", "dead")
_STATUS_HELP = "Only this status: " + ", ".join(OUTBOX_STATUSES)


@app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option("--status", help=_STATUS_HELP)] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10_000, help="At most this many.")
    ] = 50,
    database_url: DatabaseURLOption = None,
    as_json: JsonOption = False,
) -> None:
    """List outbox items, newest first (failed and dead ones show their last error)."""
    with open_without_catalog(database_url) as tl:
        items = tl.outbox.list(status, limit=limit)
    if as_json:
        print_json([item.to_dict() for item in items])
        return
    if not items:
        typer.echo("no outbox items" + (f" with status {status}" if status else ""))
        return
    print_table(
        ("id", "kind", "status", "attempts", "next try", "created", "error"),
        [_row(item) for item in items],
        no_wrap=("id", "next try", "created"),
    )


def _row(item: OutboxItemInfo) -> list[str]:
    waiting = item.status.is_waiting
    return [
        str(item.id),
        item.kind,
        item.status.value,
        str(item.attempts),
        item.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if waiting else "",
        item.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        item.last_error or "",
    ]


@app.command("retry")
def retry_command(
    item_id: Annotated[
        int | None, typer.Argument(help="The item to try again (see `outbox list`).")
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every failed and dead item.")
    ] = False,
    database_url: DatabaseURLOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make failed or dead items due now with a fresh budget of tries (the worker delivers)."""
    if (item_id is None) == (not all_failed):
        raise typer.BadParameter("give exactly one of: an item id, --all-failed")
    with open_without_catalog(database_url) as tl:
        if item_id is not None:
            item = tl.outbox.retry(check_row_id("outbox item id", item_id))
            revived = 1
        else:
            revived = tl.outbox.retry_all_failed()
    if as_json:
        print_json({"revived": revived})
        return
    if item_id is not None:
        typer.echo(f"outbox item {item.id} ({item.kind}) is pending again")
    else:
        typer.echo(f"{revived} outbox item(s) pending again")


@app.command("run")
def run_command(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit.")
    ] = False,
    max_items: Annotated[
        int | None, typer.Option("--max-items", min=1, help="Exit after this many tries.")
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.0, help="Seconds between polls when idle.")
    ] = 5.0,
    database_url: DatabaseURLOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver due outbox items until stopped (Ctrl-C or SIGTERM finishes the current try).

    Several workers may run at once. Exits 1 when a try in this run left an item dead.
    """
    from tierline.outbox.models import OutboxStatus
    from tierline.outbox.worker import run_worker

    def show(outcome: DeliveryOutcome) -> None:
        if not as_json:
            error = f": {outcome.error}" if outcome.error else ""
            typer.echo(
                f"item {outcome.id} ({outcome.kind}) try {outcome.attempt}: "
                f"{outcome.status.value}{error}"
            )

    stop = threading.Event()
    with open_without_catalog(database_url) as tl, _stop_on_signals(stop):
        if not once and not as_json:
            typer.echo(
                f"outbox worker: polling every {interval:g} s; Ctrl-C or SIGTERM stops it",
                err=True,
            )
        report = run_worker(
            tl.outbox, stop, once=once, max_items=max_items, interval=interval, on_outcome=show
        )
    if as_json:
        print_json([outcome.to_dict() for outcome in report.outcomes])
    else:
        counts = ", ".join(
            f"{report.count(status)} {status.value}"
            for status in (OutboxStatus.DELIVERED, OutboxStatus.FAILED, OutboxStatus.DEAD)
        )
        typer.echo(f"{len(report.outcomes)} tries: {counts}")
    if report.count(OutboxStatus.DEAD):
        raise typer.Exit(1)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT and SIGTERM while the worker runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
