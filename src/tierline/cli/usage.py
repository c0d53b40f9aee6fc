"""``tierline usage``: show and track an account's use of limited features."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tierline.cli.common import DatabaseURLOption, JsonOption, open_tierline, print_json
from tierline.cli.output import per_period

if TYPE_CHECKING:
    from tierline.usage.decision import UsageDecision

app = typer.Typer(help="Usage of limited features: show, track.", no_args_is_help=True)

RefArgument = Annotated[str, typer.Argument(help="The account's ref (the host app's own id).")]


def describe(decision: UsageDecision) -> str:
    """One line: ``quotes: 3 of 100 per month, resets 2026-07-01 00:00 UTC``."""
    limit = (
        f"{decision.used} of {decision.limit}"
        if decision.limit is not None
        else (f"{decision.used} (unlimited)")
    )
    period = per_period(decision.period)
    resets = f", resets {decision.resets_at:%Y-%m-%d %H:%M} UTC" if decision.resets_at else ""
    return f"{decision.feature}: {limit}{period}{resets}"


@app.command()
def show(
    ref: RefArgument, json_: JsonOption = False, database_url_: DatabaseURLOption = None
) -> None:
    """Show the current period's use of every limited feature of the account."""
    with open_tierline(database_url_) as tl:
        tl.accounts.get(ref)  # an unknown ref is a typo here
        summary = tl.usage.summary(ref)
    if json_:
        print_json([decision.to_dict() for decision in summary])
        return
    if not summary:
        typer.echo(f"{ref}: no limited feature")
    for decision in summary:
        typer.echo(describe(decision))


@app.command()
def track(
    ref: RefArgument,
    feature: Annotated[str, typer.Argument(help="A feature key of the catalog.")],
    amount: Annotated[int, typer.Argument(help="Uses to count.")] = 1,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Idempotency key: running again with it counts nothing more."),
    ] = None,
    json_: JsonOption = False,
    database_url_: DatabaseURLOption = None,
) -> None:
    """Count AMOUNT uses of FEATURE; exits 1 with the reason when the limit refuses them."""
    with open_tierline(database_url_) as tl:
        decision = tl.usage.track(ref, feature, amount, idempotency_key=key)
    if json_:
        print_json(decision.to_dict())
    elif decision.allowed:
        note = " (already counted with this key)" if decision.duplicate else ""
        typer.echo(f"counted{note}: {describe(decision)}")
    if not decision.allowed:
        from tierline.usage.decision import UsageReason

        reason = decision.reason.value if decision.reason else "refused"
        if decision.reason is UsageReason.FEATURE_NOT_IN_TIER:
            detail = f"the access of {ref!r} does not include feature {feature!r}"
        else:
            detail = describe(decision)
        typer.echo(f"error: {reason}: {detail}", err=True)
        raise typer.Exit(1)
