"""``tierline accounts``: Create and list accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tierline.cli.catalog import open_without_catalog
from tierline.cli.common import DatabaseURLOption, JsonOption, open_tierline, print_json
from tierline.cli.output import print_table

if TYPE_CHECKING:
    from tierline.accounts.service import AccountInfo

app = typer.Typer(
    help="Create, list and link accounts to provider customers.", no_args_is_help=True
)


def _to_dict(account: AccountInfo) -> dict[str, object]:
    return {
        "id": account.id,
        "ref": account.ref,
        "email": account.email,
        "referral_code": account.referral_code,
        "created_at": account.created_at.isoformat(),
    }


@app.command()
def add(
    ref: Annotated[str, typer.Argument(help="The host app's own id of the user or organisation.")],
    email: Annotated[
        str | None, typer.Option("--email", help="Contact email (updates an existing account).")
    ] = None,
    json_: JsonOption = False,
    database_url_: DatabaseURLOption = None,
) -> None:
    """Create the account REF (or update its email if it exists)."""
    with open_without_catalog(database_url_) as tl:
        account = tl.ensure_account(ref, email)
    if json_:
        print_json(_to_dict(account))
        return
    suffix = f" <{account.email}>" if account.email else ""
    typer.echo(f"account {account.ref}{suffix} (id {account.id})")


@app.command("list")
def list_(
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10_000, help="At most this many.")
    ] = 100,
    offset: Annotated[
        int, typer.Option("--offset", min=0, max=2**31 - 1, help="Skip this many first.")
    ] = 0,
    json_: JsonOption = False,
    database_url_: DatabaseURLOption = None,
) -> None:
    """List accounts, oldest first."""
    with open_without_catalog(database_url_) as tl:
        accounts = tl.accounts.list(limit=limit, offset=offset)
    if json_:
        print_json([_to_dict(account) for account in accounts])
        return
    if not accounts:
        typer.echo("no accounts")
        return
    print_table(
        ("id", "ref", "email", "referral code", "created"),
        [
            (
                str(account.id),
                account.ref,
                account.email or "",
                account.referral_code or "",
                account.created_at.strftime("%Y-%m-%d %H:%M"),
            )
            for account in accounts
        ],
        no_wrap=("id", "created"),
    )


@app.command("link")
def link_command(
    ref: Annotated[str, typer.Argument(help="The host app's own id of the account.")],
    provider: Annotated[str, typer.Option("--provider", help="The customer's provider.")],
    customer: Annotated[
        str, typer.Option("--customer", help="The provider's customer id (cus_..., ctm_...).")
    ],
    reconcile: Annotated[
        bool,
        typer.Option(
            "--reconcile/--no-reconcile",
            help="Then apply the customer's subscriptions from the provider (stripe, paddle).",
        ),
    ] = True,
    database_url: DatabaseURLOption = None,
    as_json: JsonOption = False,
) -> None:
    """Link a customer created outside the app to account REF, then reconcile it.

    Later webhooks of that customer that name no account resolve to REF.
    """
    from tierline.billing.reconcile.service import Reconciler
    from tierline.billing.reconcile.sources import RECONCILABLE
    from tierline.cli.reconcile import print_report, progress_bar

    with open_tierline(database_url) as tl:
        created = tl.accounts.link_customer(ref, provider, customer)
        if not as_json:
            state = "linked" if created else "already linked"
            typer.echo(f"{provider} customer {customer} {state} to account {ref}")
        report = None
        if reconcile and provider in RECONCILABLE:
            with progress_bar(enabled=not as_json) as progress:
                report = Reconciler(tl).run(
                    provider, account_ref=ref, apply=True, progress=progress
                )
    if as_json:
        print_json(
            {
                "account_ref": ref,
                "provider": provider,
                "customer_id": customer,
                "linked": created,
                "reconcile": None if report is None else report.to_dict(),
            }
        )
    elif report is not None:
        print_report(report)
    if report is not None and not report.in_sync:
        raise typer.Exit(1)
