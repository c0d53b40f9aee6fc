"""The root ``tierline`` Typer app; each command group lives in a module of its own."""

from __future__ import annotations

import typer

from tierline.cli import (
    accounts,
    catalog,
    credits,
    db,
    demo,
    doctor,
    events,
    outbox,
    overrides,
    reconcile,
    referrals,
    seats,
    simulate,
    usage,
)
from tierline.cli.common import TierlineGroup

app = typer.Typer(
    name="tierline",
    cls=TierlineGroup,
    help="Tierline: tiers, billing, webhooks, credits and referrals for your SaaS app.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(catalog.app, name="catalog")
app.add_typer(accounts.app, name="accounts")
app.add_typer(referrals.app, name="referrals")
app.add_typer(events.app, name="events")
app.add_typer(outbox.app, name="outbox")
reconcile.register(app)
app.add_typer(usage.app, name="usage")
app.add_typer(seats.app, name="seats")
app.add_typer(overrides.app, name="overrides")
# Top-level commands: grant-credit, revoke-credit, show-status, simulate, demo.
credits.register(app)
simulate.register(app)
demo.register(app)
doctor.register(app)


def main() -> None:
    """Entry point of the ``tierline`` console script."""
    app()
