"""``tierline referrals``: Referral codes and statistics."""

from __future__ import annotations

from typing import Annotated

import typer

from tierline.cli.common import DatabaseURLOption, JsonOption, open_tierline, print_json

app = typer.Typer(help="Referral codes and statistics.", no_args_is_help=True)

RefArgument = Annotated[str, typer.Argument(help="The account's ref (the host app's own id).")]


@app.command()
def code(ref: RefArgument, database_url_: DatabaseURLOption = None) -> None:
    """Print the account's referral code (assigned on first request)."""
    with open_tierline(database_url_) as tl:
        value = tl.referral_code(ref)
    typer.echo(value)


@app.command()
def stats(
    ref: RefArgument, json_: JsonOption = False, database_url_: DatabaseURLOption = None
) -> None:
    """Show the account's referral code and how its referrals went."""
    with open_tierline(database_url_) as tl:
        figures = tl.referral_stats(ref)
    if json_:
        print_json(figures.to_dict())
        return
    typer.echo(f"code: {figures.code or 'none yet (run `referrals code`)'}")
    typer.echo(
        f"pending {figures.pending} · converted {figures.converted} · "
        f"credited {figures.credited} · active credits {figures.active_credits}"
    )
