"""``tierline referrals``: Referral codes and statistics."""

from __future__ import annotations

import typer

app = typer.Typer(help="Referral codes and statistics.", no_args_is_help=True)
