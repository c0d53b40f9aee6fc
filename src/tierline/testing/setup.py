"""Settings and databases for tests: signed with the kit's secret, built by the migration chain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierline.testing.events import TEST_WEBHOOK_SECRET

if TYPE_CHECKING:
    from tierline.settings import TierlineSettings

#: The ``secret_key`` of :func:`settings_for_tests` (signs forms and the referral cookie).
TEST_SECRET_KEY = "tierline-testing-secret-key"  # noqa: S105 - a test fixture's secret


def settings_for_tests(database_url: str, **overrides: Any) -> TierlineSettings:
    """Settings for a test: ``database_url``, the kit's webhook secret for Stripe and Paddle.

    Events built by :mod:`tierline.testing.events` (signed with
    :data:`~tierline.testing.events.TEST_WEBHOOK_SECRET`) verify against these settings; the
    environment's ``TIERLINE_*`` variables still apply to everything not set here.
    ``overrides`` are further settings (``past_due_grace_days=7``, say).
    """
    from tierline.settings import TierlineSettings

    values: dict[str, Any] = {
        "database_url": database_url,
        "stripe_webhook_secret": [TEST_WEBHOOK_SECRET],
        "paddle_webhook_secret": [TEST_WEBHOOK_SECRET],
        "secret_key": TEST_SECRET_KEY,
        "public_url": "http://testserver",
    }
    values.update(overrides)
    return TierlineSettings().model_copy(update=values)


def migrated_sqlite_url(directory: Path, name: str = "tierline.db") -> str:
    """A new SQLite file in ``directory``, built by running Tierline's migration chain to head."""
    from tierline import db

    url = f"sqlite:///{directory / name}"
    db.upgrade(url)
    return url
