"""What every CLI command shares: the database option, error reporting and output helpers."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from tierline.errors import TierlineError
from tierline.facade import Tierline
from tierline.settings import TierlineSettings

console = Console()

DatabaseURLOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Database URL; else TIERLINE_DATABASE_URL; else sqlite:///tierline.db.",
        show_default=False,
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def database_url(option: str | None) -> str:
    """The URL given on the command line, else the one from the environment or the default."""
    return option or TierlineSettings().database_url


class TierlineGroup(TyperGroup):
    """Turns a :class:`TierlineError` anywhere below into a one-line error and exit code 1."""

    # ``Any``: Typer vendors its own click, whose Context type is private.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TierlineError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on standard output, without Rich markup or wrapping."""
    typer.echo(json.dumps(data, indent=2, default=str))


CatalogOption = Annotated[
    str | None,
    typer.Option(
        "--catalog",
        help="Catalog TOML file; else TIERLINE_CATALOG; else tierline.toml.",
        show_default=False,
    ),
]


def open_tierline(database_url_option: str | None, catalog: str | None = None) -> Tierline:
    """A :class:`Tierline` for a CLI command, from its options and the environment."""
    settings = TierlineSettings()
    updates: dict[str, str] = {"database_url": database_url(database_url_option)}
    if catalog is not None:
        updates["catalog"] = catalog
    return Tierline(settings=settings.model_copy(update=updates))
