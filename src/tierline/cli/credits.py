"""Top-level commands: grant-credit, revoke-credit, show-status and assign-exempt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from tierline.cli.common import DatabaseURLOption, JsonOption, open_tierline, print_json
from tierline.cli.output import echo, per_period
from tierline.errors import ValidationError

RefArgument = Annotated[str, typer.Argument(help="The account's ref (the host app's own id).")]


def parse_until(text: str) -> datetime:
    """``YYYY-MM-DD`` (midnight UTC starting that day) or an ISO datetime (naive = UTC)."""
    try:
        if len(text.strip()) == len("YYYY-MM-DD"):
            day = datetime.strptime(text.strip(), "%Y-%m-%d")
            return day.replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValidationError(
            f"--until {text!r} is not a date: give YYYY-MM-DD or an ISO datetime"
        ) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def grant_credit(
    ref: RefArgument,
    days: Annotated[
        int | None, typer.Option("--days", help="Days of access to add.", show_default=False)
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Grant up to this date instead (YYYY-MM-DD, midnight UTC).",
            show_default=False,
        ),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (kept in the ledger).")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who grants it.")] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Idempotency key: running again with it changes nothing."),
    ] = None,
    database_url_: DatabaseURLOption = None,
) -> None:
    """Grant paid access for --days N (or --until a date), after any current credit."""
    from tierline.access.describe import describe_status

    if (days is None) == (until is None):
        raise ValidationError("give exactly one of --days N or --until DATE")
    until_at = parse_until(until) if until is not None else None
    with open_tierline(database_url_) as tl:
        grant = tl.grant_credit(
            ref, days=days, until=until_at, reason=reason, by=by, idempotency_key=key
        )
        status = tl.status(ref)
    echo(
        f"credit #{grant.id} for {ref}: {grant.starts_at:%Y-%m-%d %H:%M} → "
        f"{grant.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    echo(describe_status(status))


def revoke_credit(ref: RefArgument, database_url_: DatabaseURLOption = None) -> None:
    """Revoke the account's running and future credits."""
    from tierline.access.describe import describe_status

    with open_tierline(database_url_) as tl:
        count = tl.revoke_credit(ref)
        status = tl.status(ref)
    echo(f"revoked {count} credit grant(s) of {ref}")
    echo(describe_status(status))


def show_status(
    ref: RefArgument, json_: JsonOption = False, database_url_: DatabaseURLOption = None
) -> None:
    """Show the account's access: tier, source, expiry, and why not when inactive."""
    from tierline.access.describe import describe_status

    with open_tierline(database_url_) as tl:
        tl.accounts.get(ref)  # an unknown ref is a typo here, not a free account
        status = tl.status(ref)
    if json_:
        print_json(status.to_dict())
        return
    echo(f"{ref}: {describe_status(status)}", style="green" if status.active else "yellow")
    if status.features:
        echo(f"features: {', '.join(sorted(status.features))}")
    for key, info in sorted(status.limits.items()):
        echo(f"limit {key}: {info.limit}{per_period(info.period)}")


def assign_exempt(
    ref: RefArgument,
    tier: Annotated[str, typer.Argument(help="An exempt tier's key.")],
    database_url_: DatabaseURLOption = None,
) -> None:
    """Put the account on an exempt tier (staff, partners): active without payment."""
    from tierline.access.describe import describe_status

    with open_tierline(database_url_) as tl:
        status = tl.assign_exempt(ref, tier)
    echo(f"{ref}: {describe_status(status)}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("grant-credit")(grant_credit)
    app.command("revoke-credit")(revoke_credit)
    app.command("show-status")(show_status)
    app.command("assign-exempt")(assign_exempt)
