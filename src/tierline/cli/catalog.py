"""``tierline catalog``: Declare tiers in TOML, validate them, and sync them to the database."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Declare tiers in TOML, validate them, and sync them to the database.",
    no_args_is_help=True,
)
