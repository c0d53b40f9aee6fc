"""``tierline seats``: list, assign and unassign the members holding an account's seats."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tierline.cli.common import DatabaseURLOption, JsonOption, open_tierline, print_json

if TYPE_CHECKING:
    from tierline.seats.service import SeatSummary

app = typer.Typer(help="Seats: list, assign, unassign members.", no_args_is_help=True)

RefArgument = Annotated[str, typer.Argument(help="The account's ref (the host app's own id).")]
MemberArgument = Annotated[str, typer.Argument(help="The member's ref (the host's user id).")]


def _print(summary: SeatSummary, json_: bool) -> None:
    if json_:
        print_json(summary.to_dict())
        return
    over = " (over its seats: new assignments are refused)" if summary.over else ""
    typer.echo(
        f"{summary.account_ref}: {summary.assigned} of {summary.limit} seats assigned{over}",
    )
    for member in summary.members:
        typer.echo(
            f"  {member.member_ref}  since {member.assigned_at:%Y-%m-%d %H:%M} UTC",
        )


@app.command("list")
def list_(
    ref: RefArgument, json_: JsonOption = False, database_url_: DatabaseURLOption = None
) -> None:
    """Show the account's seat limit (tier seats x quantity) and its members."""
    with open_tierline(database_url_) as tl:
        summary = tl.seats.list(ref)
    _print(summary, json_)


@app.command()
def assign(
    ref: RefArgument,
    member: MemberArgument,
    json_: JsonOption = False,
    database_url_: DatabaseURLOption = None,
) -> None:
    """Give MEMBER a seat of the account (refused when every seat is taken)."""
    with open_tierline(database_url_) as tl:
        summary = tl.seats.assign(ref, member)
    _print(summary, json_)


@app.command()
def unassign(
    ref: RefArgument,
    member: MemberArgument,
    json_: JsonOption = False,
    database_url_: DatabaseURLOption = None,
) -> None:
    """Take MEMBER's seat back."""
    with open_tierline(database_url_) as tl:
        held = tl.seats.unassign(ref, member)
        summary = tl.seats.list(ref)
    if not json_:
        note = "unassigned" if held else "held no seat"
        typer.echo(f"{member}: {note}")
    _print(summary, json_)
