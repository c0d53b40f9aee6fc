"""Top-level commands: demo: serve the example app on embedded SQLite."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
