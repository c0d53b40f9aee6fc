"""``tierline events``: Inspect, replay and feed webhook events."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect, replay and feed webhook events.", no_args_is_help=True)
