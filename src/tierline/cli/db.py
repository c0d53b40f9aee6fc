"""``tierline db``: run and inspect Tierline's migration chain."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tierline.cli.common import DatabaseURLOption, database_url
from tierline.cli.output import echo, print_table
from tierline.errors import ValidationError

if TYPE_CHECKING:
    from tierline.db.migrate import TableLoss

app = typer.Typer(help="Run and inspect Tierline's migration chain.", no_args_is_help=True)


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database_url_: DatabaseURLOption = None,
) -> None:
    """Upgrade the database to REVISION (default: head)."""
    from tierline import db

    url = database_url(database_url_)
    before = db.current(url)
    db.upgrade(url, revision)
    after = db.current(url)
    if after is not None and after == before:
        # Alembic's upgrade to a revision at or behind the current one changes nothing.
        hint = ""
        if revision not in ("head", after):
            hint = f"; `tierline db downgrade {revision}` goes back"
        echo(f"already at {after}: nothing to upgrade{hint}")
        return
    echo(f"upgraded to {after or 'base'}")


@app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, or 'base'.")],
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Drop tables that hold rows without asking."),
    ] = False,
    database_url_: DatabaseURLOption = None,
) -> None:
    """Downgrade the database to REVISION ('base' removes Tierline's tables).

    When the downgrade would drop tables that hold rows, it lists them and asks first; without
    a terminal to ask on, it refuses unless --yes is given.
    """
    from tierline import db

    url = database_url(database_url_)
    db.require_database_file(url)
    losses = db.downgrade_losses(url, revision)
    if losses and not yes:
        _confirm_losses(revision, losses)
    db.downgrade(url, revision)
    echo(f"downgraded to {db.current(url) or 'base'}")


def stdin_is_interactive() -> bool:
    """Whether a person can answer a question on standard input (tests replace this)."""
    return sys.stdin.isatty()


def _confirm_losses(revision: str, losses: list[TableLoss]) -> None:
    lost = ", ".join(
        f"{loss.table} ({loss.rows} row{'' if loss.rows == 1 else 's'})" for loss in losses
    )
    if not stdin_is_interactive():
        raise ValidationError(
            f"downgrading to {revision!r} would drop {lost}; run again with --yes to confirm"
        )
    typer.echo(f"Downgrading to {revision!r} drops these tables and every row in them:")
    for loss in losses:
        typer.echo(f"  {loss.table}: {loss.rows} row{'' if loss.rows == 1 else 's'}")
    if not typer.confirm("Drop them?", default=False):
        typer.echo("downgrade cancelled; nothing changed", err=True)
        raise typer.Exit(1)


@app.command()
def current(database_url_: DatabaseURLOption = None) -> None:
    """Print the database's current revision."""
    from tierline import db

    url = database_url(database_url_)
    db.require_database_file(url)
    rev = db.current(url)
    head = db.heads()
    suffix = " (head)" if rev is not None and [rev] == head else ""
    echo(f"{rev or 'base (never migrated)'}{suffix}")


@app.command()
def check(database_url_: DatabaseURLOption = None) -> None:
    """Compare the migrated database with the models; exit 1 on any difference."""
    from tierline import db

    url = database_url(database_url_)
    db.require_database_file(url)
    problems = db.check(url)
    if not problems:
        echo("no drift: the database matches the models at head")
        return
    for problem in problems:
        echo(f"drift {problem}", style="red")
    raise typer.Exit(1)


@app.command()
def history() -> None:
    """List the chain's revisions, oldest first."""
    from tierline import db

    print_table(
        ("revision", "down", "message"),
        [
            (
                f"{rev.revision} (head)" if rev.is_head else rev.revision,
                rev.down_revision or "base",
                rev.message.splitlines()[0],
            )
            for rev in db.history()
        ],
        no_wrap=("revision", "down"),
    )
