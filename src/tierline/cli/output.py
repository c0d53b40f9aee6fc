"""How CLI commands print: Rich on a terminal, plain text for pipes and files.

On a terminal, tables are Rich tables and status words are coloured. When standard output is
a pipe or a file, every line is plain text (tables as columns aligned with spaces, one row per
line, no colour, no wrapping), so ``tierline ... | grep`` and ``awk`` see whole rows. ``--json``
stays the format for scripts. Rich is imported only when a terminal is being written to.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

#: A table cell: a text, or several items (one per line on a terminal, comma-joined in plain).
Cell = str | Sequence[str]

_console: Console | None = None


def per_period(period: str | None) -> str:
    """How a limit's period reads after its number: `` per month``, `` (lifetime)`` for a limit
    that never resets (``none``), nothing when no period is given."""
    if period is None:
        return ""
    return " (lifetime)" if period == "none" else f" per {period}"


def stdout_is_terminal() -> bool:
    """Whether standard output is a terminal (tests replace this to force either answer)."""
    return sys.stdout.isatty()


def rich_console() -> Console:
    """The shared Rich console, built on first use."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(highlight=False, soft_wrap=True)
    return _console


def echo(text: str, *, style: str | None = None) -> None:
    """Print one line: in ``style`` (a Rich style such as ``"green"``) on a terminal."""
    if style is not None and stdout_is_terminal():
        from rich.text import Text

        rich_console().print(Text(text, style=style))
    else:
        typer.echo(text)


def print_table(
    columns: Sequence[str], rows: Sequence[Sequence[Cell]], *, no_wrap: Sequence[str] = ()
) -> None:
    """Print ``rows`` under ``columns``: a Rich table on a terminal, aligned text otherwise.

    Args:
        columns: the header of each column.
        rows: one sequence of cells per row, in column order.
        no_wrap: columns Rich must never wrap (the others fold rather than truncate).
    """
    if stdout_is_terminal():
        _print_rich(columns, rows, no_wrap)
    else:
        typer.echo(plain_table(columns, rows))


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """``rows`` as text columns aligned with two spaces; the last column is not padded."""
    lines = [list(columns)] + [[_plain(cell) for cell in row] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "\n".join(
        "  ".join(
            cell if i == len(widths) - 1 else cell.ljust(widths[i]) for i, cell in enumerate(line)
        ).rstrip()
        for line in lines
    )


def _plain(cell: Cell) -> str:
    text = cell if isinstance(cell, str) else ", ".join(cell)
    # One row per line, whatever a value holds.
    return " ".join(text.split("\n"))


def _print_rich(
    columns: Sequence[str], rows: Sequence[Sequence[Cell]], no_wrap: Sequence[str]
) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in no_wrap)
    for row in rows:
        table.add_row(*(escape(cell if isinstance(cell, str) else "\n".join(cell)) for cell in row))
    rich_console().print(table)
