"""The real-world webhook cases through ``tierline events ingest`` and ``show-status``, as a
user replays captured deliveries (on SQLite, with the real clock and the cases' catalog)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from tierline.billing.providers import sign_for
from tierline.cli.app import app

from ..billing.cases import ACCOUNT, CASE_NAMES, CATALOG, EXPECTED, expected_expiry, load_case
from ..billing.inbox_helpers import SECRETS

runner = CliRunner()


@pytest.mark.parametrize("name", CASE_NAMES)
def test_a_case_through_the_cli(
    sqlite_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray tierline.toml
    monkeypatch.delenv("TIERLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("TIERLINE_CATALOG", str(CATALOG))
    monkeypatch.setenv("TIERLINE_STRIPE_WEBHOOK_SECRET", SECRETS["stripe"])
    url = ["--database-url", sqlite_url.render_as_string(hide_password=False)]
    synced = runner.invoke(app, ["catalog", "sync", "--catalog", str(CATALOG), *url])
    assert synced.exit_code == 0, synced.output
    case, expected = load_case(name), EXPECTED[name]
    now = datetime.now(UTC)

    for delivery in case.deliveries:
        body = json.dumps(case.shifted(delivery, now), indent=2).encode()
        path = tmp_path / delivery.file
        path.write_bytes(body)
        headers = sign_for(delivery.provider, body, SECRETS[delivery.provider])
        options = [opt for h, v in headers.items() for opt in ("--header", f"{h}: {v}")]
        result = runner.invoke(
            app, ["events", "ingest", delivery.provider, "--body", str(path), *options, *url]
        )
        assert result.output.split()[0] in ("processed", "ignored"), result.output

    shown = runner.invoke(app, ["show-status", ACCOUNT, "--json", *url])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.output)
    assert (status["active"], status["source"], status["tier"]) == (
        expected.active,
        expected.source.value,
        expected.tier,
    )
    assert status["reason"] == (expected.reason.value if expected.reason else None)
    assert status["seats"] == expected.seats
    expiry = expected_expiry(case, expected, now)
    assert status["expires_at"] == (expiry.isoformat() if expiry else None)
