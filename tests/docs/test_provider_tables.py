"""The README's two provider tables cover every provider the code has, and say what it does:
signature scheme, dedup key, ordering rule (webhooks); supported actions, checkout, portal
(self-service). The "supported actions" column is the registry's ``supported()``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tierline.billing.actions import REGISTRY, actions_for
from tierline.billing.providers import enabled_providers
from tierline.settings import TierlineSettings
from tierline.web.selfservice import PROVIDER_NAMES

README = Path(__file__).resolve().parents[2] / "README.md"
#: Each provider's row label: its display name on the pages.
NAMES = {key: name for key, name in PROVIDER_NAMES.items() if key != "fake"}
#: The words of the "supported actions" column, per action of the registry.
WORDS = {
    "portal_url": "portal",
    "cancel_at_period_end": "cancel",
    "resume": "resume",
    "change_plan": "change plan",
    "preview_change": "preview",
}


def table(header_start: str) -> dict[str, dict[str, str]]:
    """The README table whose header row starts with ``header_start``: provider -> column ->
    cell."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        # A cell may hold an escaped pipe (``\\|``); split on the others.
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def test_every_provider_has_a_row_in_both_tables() -> None:
    everything = TierlineSettings(enable_fake_provider=True)
    webhook_names = {name for name in enabled_providers(everything) if name != "fake"}
    assert webhook_names == set(NAMES) == set(REGISTRY)
    assert set(NAMES.values()) <= set(table("| provider | signature |"))
    assert set(NAMES.values()) <= set(table("| provider | supported actions |"))


@pytest.mark.parametrize("provider", sorted(NAMES))
def test_the_webhook_row_names_signature_dedup_key_and_ordering(provider: str) -> None:
    row = table("| provider | signature |")[NAMES[provider]]
    assert row["signature"] and row["dedup key"]
    assert row["ordering: timestamp; tie-break (event ranks); terminal"].count(";") >= 2


@pytest.mark.parametrize("provider", sorted(NAMES))
def test_the_actions_row_lists_exactly_what_the_provider_supports(provider: str) -> None:
    row = table("| provider | supported actions |")[NAMES[provider]]
    listed = {word.split(" (")[0].strip() for word in row["supported actions"].split(",")}
    supported = {WORDS[action] for action in actions_for(provider).supported() if action in WORDS}
    assert listed == supported
    assert row["checkout (`checkout_url`)"] not in ("", "—")
    assert row["portal (`portal_url`)"] not in ("", "—")
    has_change = "change_plan" in actions_for(provider).supported()
    assert (row["change plan (downgrade at period end)"] != "—") is has_change
    has_preview = "preview_change" in actions_for(provider).supported()
    assert (row["proration preview"] != "—") is has_preview
