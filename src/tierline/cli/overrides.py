"""``tierline overrides``: an admin's per-account grants of a feature or a limit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tierline.cli.common import DatabaseURLOption, JsonOption, open_tierline, print_json
from tierline.cli.credits import parse_until
from tierline.cli.output import per_period

if TYPE_CHECKING:
    from tierline.overrides.service import OverrideInfo

app = typer.Typer(help="Per-account overrides: set, list, clear.", no_args_is_help=True)

RefArgument = Annotated[str, typer.Argument(help="The account's ref (the host app's own id).")]


def describe(info: OverrideInfo) -> str:
    """One line per override."""
    what = "granted" if info.enabled else "withheld"
    if info.limit is not None:
        what += f", limit {info.limit}{per_period(info.period)}"
    until = f" until {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else ""
    by = f" by {info.created_by}" if info.created_by else ""
    return f"{info.account_ref} {info.feature}: {what}{until} ({info.reason}{by})"


@app.command("set")
def set_(
    ref: RefArgument,
    feature: Annotated[str, typer.Argument(help="A feature key of the catalog.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the override).")],
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="A limit replacing the tier's.", show_default=False),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period", help="day, month or none (default: the tier's).", show_default=False
        ),
    ] = None,
    disable: Annotated[
        bool, typer.Option("--disable", help="Withhold the feature instead of granting it.")
    ] = False,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Expiry (YYYY-MM-DD, midnight UTC, or ISO).", show_default=False
        ),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who sets it.")] = None,
    json_: JsonOption = False,
    database_url_: DatabaseURLOption = None,
) -> None:
    """Grant (or --disable) FEATURE for one account, with an optional --limit and expiry."""
    expires_at = parse_until(until) if until is not None else None
    with open_tierline(database_url_) as tl:
        info = tl.overrides.set(
            ref,
            feature,
            enabled=not disable,
            limit=limit,
            period=period,
            expires_at=expires_at,
            reason=reason,
            created_by=by,
        )
    if json_:
        print_json(info.to_dict())
        return
    typer.echo(describe(info))


@app.command("list")
def list_(
    ref: Annotated[
        str | None, typer.Argument(help="An account's ref (default: every account).")
    ] = None,
    json_: JsonOption = False,
    database_url_: DatabaseURLOption = None,
) -> None:
    """List the overrides of one account, or of every account."""
    with open_tierline(database_url_) as tl:
        found = tl.overrides.list(ref)
    if json_:
        print_json([info.to_dict() for info in found])
        return
    if not found:
        typer.echo("no overrides")
    for info in found:
        typer.echo(describe(info))


@app.command()
def clear(
    ref: RefArgument,
    feature: Annotated[
        str | None, typer.Argument(help="The feature (default: every override of the account).")
    ] = None,
    json_: JsonOption = False,
    database_url_: DatabaseURLOption = None,
) -> None:
    """Remove the account's override of FEATURE (or all of its overrides)."""
    with open_tierline(database_url_) as tl:
        removed = tl.overrides.clear(ref, feature)
    if json_:
        print_json({"account_ref": ref, "feature": feature, "removed": removed})
        return
    typer.echo(f"removed {removed} override(s) of {ref}")
