"""``tierline reconcile`` and ``tierline accounts link``: repair Tierline from the provider."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tierline.cli.common import DatabaseURLOption, JsonOption, open_tierline, print_json
from tierline.cli.output import print_table, rich_console, stdout_is_terminal

if TYPE_CHECKING:
    from tierline.billing.reconcile.service import Progress, ReconcileReport, SubscriptionDiff

AccountOption = Annotated[
    str | None,
    typer.Option("--account", help="Only this account's customers at the provider."),
]


def register(app: typer.Typer) -> None:
    """Add ``reconcile`` to the root app."""
    app.command("reconcile")(reconcile_command)


def reconcile_command(
    provider: Annotated[str, typer.Argument(help="The provider to read: stripe or paddle.")],
    account: AccountOption = None,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Write the provider's state (as synthetic webhook events)."),
    ] = False,
    database_url: DatabaseURLOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare Tierline's subscriptions with the provider's; --apply repairs Tierline.

    Exits 0 when everything matches (with --apply: when every difference was applied), 1
    otherwise.
    """
    from tierline.billing.reconcile.service import Reconciler

    with open_tierline(database_url) as tl, progress_bar(enabled=not as_json) as progress:
        report = Reconciler(tl).run(provider, account_ref=account, apply=apply, progress=progress)
    if as_json:
        print_json(report.to_dict())
    else:
        print_report(report)
    if not report.in_sync:
        raise typer.Exit(1)


@contextmanager
def progress_bar(*, enabled: bool) -> Iterator[Progress | None]:
    """A Rich progress bar while the provider is paged through, on a terminal only."""
    if not enabled or not stdout_is_terminal():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("fetching subscriptions"),
        BarColumn(),
        MofNCompleteColumn(),
        console=rich_console(),
    ) as bar:
        task = bar.add_task("fetch", total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def print_report(report: ReconcileReport) -> None:
    """The differing subscriptions as a Rich table, then one summary line."""
    from tierline.billing.reconcile.service import Change

    shown = [diff for diff in report.diffs if diff.change is not Change.SAME]
    if shown:
        columns = ["subscription", "account", "change", "details"]
        if report.applied:
            columns.append("applied")
        rows = []
        for diff in shown:
            cells = [
                diff.subscription_id,
                diff.account_ref or "-",
                diff.change.value,
                _details(diff),
            ]
            if report.applied:
                cells.append(diff.applied or "")
            rows.append(cells)
        typer.echo(f"{report.provider}: Tierline → provider")
        print_table(columns, rows, no_wrap=("subscription",))
    counts = ", ".join(f"{report.count(change)} {change.value}" for change in Change)
    scope = f" of account {report.account_ref}" if report.account_ref else ""
    verb = "applied" if report.applied else "compared"
    typer.echo(f"{report.provider}{scope}: {len(report.diffs)} subscriptions {verb}: {counts}")


def _details(diff: SubscriptionDiff) -> str:
    from tierline.billing.reconcile.service import COMPARED, Change

    if diff.change is Change.DIFFERS:
        ours, theirs = diff.tierline_state, diff.provider_state
        return "; ".join(
            f"{name} {_text(ours.get(name))} → {_text(theirs.get(name))}" for name in diff.fields
        )
    state = diff.provider_state if diff.change is Change.MISSING else diff.tierline_state
    return ", ".join(f"{name} {_text(state.get(name))}" for name in COMPARED if name != "account")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str) and len(value) >= 19 and value[10] == "T":
        return value[:16].replace("T", " ")  # an ISO timestamp, to the minute
    return str(value)
