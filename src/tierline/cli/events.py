"""``tierline events``: Inspect, replay and feed webhook events."""

from __future__ import annotations

import json
import os
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Annotated

import typer

from tierline.billing.result import IngestOutcome
from tierline.cli.common import (
    DatabaseURLOption,
    JsonOption,
    check_row_id,
    open_tierline,
    print_json,
)
from tierline.cli.output import print_table

if TYPE_CHECKING:
    from tierline.billing.events import EventInfo
    from tierline.billing.result import IngestResult

app = typer.Typer(help="Inspect, replay and feed webhook events.", no_args_is_help=True)

#: Outcomes after which ``events ingest`` exits 0: the event's effect is in the database.
_SUCCESS = (IngestOutcome.PROCESSED, IngestOutcome.DUPLICATE)

#: ``EventStatus``'s values, written out so that ``--help`` needs no ORM model (a test keeps the
#: two equal).
EVENT_STATUSES = ("processing", "processed", "failed", "unmapped", "ignored")


@app.command("list")
def list_command(
    status: Annotated[
        str | None,
        typer.Option(help="Only this status: " + ", ".join(EVENT_STATUSES)),
    ] = None,
    provider: Annotated[str | None, typer.Option(help="Only this provider.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")
    ] = 50,
    database_url: DatabaseURLOption = None,
    as_json: JsonOption = False,
) -> None:
    """List received webhook events, newest first."""
    with open_tierline(database_url) as tl:
        events = tl.inbox.list_events(status=status, provider=provider, limit=limit)
    if as_json:
        print_json([event.to_dict() for event in events])
        return
    if not events:
        typer.echo("no events")
        return
    print_table(
        ("id", "provider", "type", "event id", "status", "attempts", "received", "error"),
        [
            (
                str(event.id),
                event.provider,
                event.type,
                event.external_id,
                event.status.value,
                str(event.attempts),
                event.received_at.strftime("%Y-%m-%d %H:%M:%S"),
                event.last_error or "",
            )
            for event in events
        ],
        no_wrap=("id", "status", "attempts", "received"),
    )


@app.command("show")
def show_command(
    event_id: Annotated[int, typer.Argument(help="The event's id (see `events list`).")],
    database_url: DatabaseURLOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one event with its payload, pretty-printed."""
    check_row_id("event id", event_id)
    with open_tierline(database_url) as tl:
        event = tl.inbox.get_event(event_id)
    if as_json:
        print_json(event.to_dict())
        return
    _print_fields(event)
    typer.echo("payload:")
    typer.echo(_pretty(event.payload or ""))


def _print_fields(event: EventInfo) -> None:
    for name, value in event.to_dict().items():
        if name != "payload":
            typer.echo(f"{name}: {'' if value is None else value}")


def _pretty(payload: str) -> str:
    try:
        return json.dumps(json.loads(payload), indent=2, sort_keys=True)
    except ValueError:
        return payload


@app.command("replay")
def replay_command(
    event_id: Annotated[
        int | None, typer.Argument(help="The event to replay (or use --failed/--unmapped).")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Replay every failed event.")] = False,
    unmapped: Annotated[
        bool, typer.Option("--unmapped", help="Replay every unmapped event.")
    ] = False,
    database_url: DatabaseURLOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-run stored events from their payload; exits 1 if any is still not applied."""
    chosen = [event_id is not None, failed, unmapped]
    if sum(chosen) != 1:
        raise typer.BadParameter("give exactly one of: an event id, --failed, --unmapped")
    from tierline.billing.models import EventStatus

    if event_id is not None:
        check_row_id("event id", event_id)
    with open_tierline(database_url) as tl:
        if event_id is not None:
            results = [tl.inbox.replay(event_id)]
        else:
            results = tl.inbox.replay_all(EventStatus.FAILED if failed else EventStatus.UNMAPPED)
    if as_json:
        print_json([result.to_dict() for result in results])
    elif not results:
        typer.echo("nothing to replay")
    for result in results if not as_json else []:
        _print_result(result)
    stuck = (IngestOutcome.FAILED, IngestOutcome.UNMAPPED, IngestOutcome.IN_FLIGHT)
    if any(result.outcome in stuck for result in results):
        raise typer.Exit(1)


@app.command("ingest")
def ingest_command(
    provider: Annotated[str, typer.Argument(help="The provider: stripe, paddle, fake...")],
    body: Annotated[
        Path,
        typer.Option(
            "--body", help="The raw webhook body, byte for byte.", exists=True, dir_okay=False
        ),
    ],
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help='A header as "Name: value"; repeat for more.'),
    ] = None,
    database_url: DatabaseURLOption = None,
    as_json: JsonOption = False,
) -> None:
    """Feed a captured webhook through the same path as the web endpoint.

    Exits 0 when it was processed or was a duplicate, 1 otherwise.
    """
    headers = _parse_headers(header or [])
    with open_tierline(database_url) as tl:
        limit = tl.settings.max_body_bytes
        data, size = _read_body(body, limit)
        if len(data) > limit:
            result = _body_too_large(size, limit)
        else:
            result = tl.ingest(provider, headers, data)
    if as_json:
        print_json({**result.to_dict(), "status_code": result.status_code})
    else:
        _print_result(result)
    if result.outcome not in _SUCCESS:
        raise typer.Exit(1)


def _read_body(path: Path, limit: int) -> tuple[bytes, int | None]:
    """The body file, read no further than one byte past ``limit``, and its size when the
    file says it (a regular file). A body over the limit is refused, as the web endpoint
    refuses it, without being read whole: ``/dev/zero`` or a multi-gigabyte capture must
    not exhaust the memory.
    """
    with path.open("rb") as file:
        stat = os.fstat(file.fileno())
        data = file.read(limit + 1)
    return data, stat.st_size if S_ISREG(stat.st_mode) else None


def _body_too_large(size: int | None, limit: int) -> IngestResult:
    """The refusal of a body over ``max_body_bytes``, worded as :meth:`Tierline.ingest`'s."""
    from tierline.billing.result import IngestResult

    seen = f"{size} bytes" if size is not None and size > limit else f"more than {limit} bytes"
    return IngestResult(
        IngestOutcome.REJECTED,
        detail=f"body_too_large: webhook body is {seen}; the limit is {limit}",
        reason="body_too_large",
    )


def _parse_headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise typer.BadParameter(
                f"header {value!r} is not 'Name: value'", param_hint="--header"
            )
        headers[name.strip()] = content.strip()
    return headers


def _print_result(result: IngestResult) -> None:
    where = f" (event {result.row_id})" if result.row_id is not None else ""
    typer.echo(f"{result.outcome.value} [{result.status_code}]{where}: {result.detail}")
