"""The root ``tierline`` Typer app; each command group lives in a module of its own."""

from __future__ import annotations

import typer

from tierline.cli import db
from tierline.cli.common import TierlineGroup

app = typer.Typer(
    name="tierline",
    cls=TierlineGroup,
    help="Tierline: tiers, billing, webhooks, credits and referrals for your SaaS app.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")


def main() -> None:
    """Entry point of the ``tierline`` console script."""
    app()
