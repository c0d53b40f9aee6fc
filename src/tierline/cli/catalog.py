"""``tierline catalog``: Declare tiers in TOML, validate them, and sync them to the database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tierline.cli.common import (
    CatalogOption,
    DatabaseURLOption,
    JsonOption,
    migrated_database_url,
    open_tierline,
    print_json,
)
from tierline.cli.output import print_table

if TYPE_CHECKING:
    from tierline.catalog.config import CatalogProblem
    from tierline.catalog.service import TierInfo
    from tierline.facade import Tierline

app = typer.Typer(
    help="Declare tiers in TOML, validate them, and sync them to the database.",
    no_args_is_help=True,
)

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print what would change; write nothing.")
]


def catalog_path(option: str | None) -> Path:
    """The catalog file named on the command line, else by TIERLINE_CATALOG, else the default."""
    from tierline.settings import TierlineSettings

    return Path(option or TierlineSettings().catalog)


def open_without_catalog(database_url_option: str | None) -> Tierline:
    """A :class:`Tierline` for a command that reads only the database, not the catalog file.

    A broken ``tierline.toml`` in the working directory must not stop ``catalog show`` (the way
    to see what is synced) or ``accounts add``.
    """
    from tierline.catalog.spec import Catalog
    from tierline.facade import Tierline

    return Tierline(migrated_database_url(database_url_option), catalog=Catalog())


@app.command()
def validate(catalog: CatalogOption = None) -> None:
    """Check the catalog file; print every problem (exit 1) or a summary."""
    from tierline.catalog.config import CatalogError, fake_link_problems, load_catalog
    from tierline.settings import TierlineSettings

    path = catalog_path(catalog)
    # Read the file directly: building a Tierline would stop at the first broken catalog.
    try:
        spec = load_catalog(path)
    except CatalogError as exc:
        if not exc.problems:
            raise
        _print_problems(path, exc.problems)
        raise typer.Exit(1) from exc
    if not TierlineSettings().enable_fake_provider:
        fake_links = fake_link_problems(spec)
        if fake_links:
            _print_problems(path, fake_links)
            raise typer.Exit(1)
    count = len(spec.tiers)
    typer.echo(f"catalog OK: {count} tier{'' if count == 1 else 's'}")


def _print_problems(path: Path, problems: list[CatalogProblem]) -> None:
    count = len(problems)
    typer.echo(f"catalog {path}: {count} problem{'' if count == 1 else 's'}")
    for problem in problems:
        typer.echo(f"  {problem}")


@app.command()
def sync(
    dry_run: DryRunOption = False,
    catalog: CatalogOption = None,
    database_url_: DatabaseURLOption = None,
) -> None:
    """Write the catalog file's tiers, features, limits and provider links to the database."""
    from tierline.catalog.config import load_catalog

    path = catalog_path(catalog)
    spec = load_catalog(path)
    with open_tierline(database_url_, str(path)) as tl:
        report = tl.sync_catalog(spec, dry_run=dry_run)
    for line in report.changes:
        typer.echo(line)
    count = len(report.changes)
    plural = "" if count == 1 else "s"
    if not report.changed:
        typer.echo("no changes")
    elif dry_run:
        typer.echo(f"dry run: {count} change{plural} not written")
    else:
        typer.echo(f"{count} change{plural} written")


@app.command()
def show(json_: JsonOption = False, database_url_: DatabaseURLOption = None) -> None:
    """List the tiers in the database, retired ones included."""
    with open_without_catalog(database_url_) as tl:
        tiers = tl.catalog.tiers(include_retired=True)
    if json_:
        print_json([tier.to_dict() for tier in tiers])
        return
    if not tiers:
        typer.echo("no tiers; declare them in tierline.toml and run `tierline catalog sync`")
        return
    # On a terminal: light borders and one item per line keep nine columns readable in 80
    # characters. Short columns never wrap, so the lists take the narrowing; those fold rather
    # than truncate: a cut-off price key is worse than a taller row.
    print_table(
        ("key", "name", "seats", "exempt", "price", "features", "limits", "providers", "retired"),
        [
            (
                tier.key,
                tier.name,
                str(tier.seats),
                "yes" if tier.exempt else "",
                tier.fallback_price or "",
                tier.features,
                _limits(tier),
                [f"{name}:{k}" for name, keys in tier.providers.items() for k in keys],
                "retired" if tier.retired else "",
            )
            for tier in tiers
        ],
        no_wrap=("key", "seats", "exempt", "price", "retired"),
    )


def _limits(tier: TierInfo) -> list[str]:
    from tierline.catalog.models import LimitPeriod

    parts = []
    for key, spec in tier.limits.items():
        period = LimitPeriod(spec.period)
        parts.append(f"{key} {spec.limit}" + ("" if period is LimitPeriod.NONE else f"/{period}"))
    return parts
