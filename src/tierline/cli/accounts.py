"""``tierline accounts``: Create and list accounts."""

from __future__ import annotations

import typer

app = typer.Typer(help="Create and list accounts.", no_args_is_help=True)
