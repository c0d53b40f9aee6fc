"""``tierline db``: run and inspect Tierline's migration chain."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tierline import db
from tierline.cli.common import DatabaseURLOption, console, database_url

app = typer.Typer(help="Run and inspect Tierline's migration chain.", no_args_is_help=True)


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database_url_: DatabaseURLOption = None,
) -> None:
    """Upgrade the database to REVISION (default: head)."""
    url = database_url(database_url_)
    db.upgrade(url, revision)
    console.print(f"upgraded to {db.current(url) or 'base'}")


@app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, or 'base'.")],
    database_url_: DatabaseURLOption = None,
) -> None:
    """Downgrade the database to REVISION ('base' removes Tierline's tables)."""
    url = database_url(database_url_)
    db.downgrade(url, revision)
    console.print(f"downgraded to {db.current(url) or 'base'}")


@app.command()
def current(database_url_: DatabaseURLOption = None) -> None:
    """Print the database's current revision."""
    rev = db.current(database_url(database_url_))
    head = db.heads()
    suffix = " (head)" if rev is not None and [rev] == head else ""
    console.print(f"{rev or 'base (never migrated)'}{suffix}")


@app.command()
def check(database_url_: DatabaseURLOption = None) -> None:
    """Compare the migrated database with the models; exit 1 on any difference."""
    problems = db.check(database_url(database_url_))
    if not problems:
        console.print("no drift: the database matches the models at head")
        return
    for problem in problems:
        console.print(f"[red]drift[/red] {problem}", highlight=False)
    raise typer.Exit(1)


@app.command()
def history() -> None:
    """List the chain's revisions, oldest first."""
    table = Table("revision", "down", "message")
    for rev in db.history():
        name = f"{rev.revision} (head)" if rev.is_head else rev.revision
        table.add_row(name, rev.down_revision or "base", rev.message.splitlines()[0])
    console.print(table)
