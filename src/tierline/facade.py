"""The :class:`Tierline` facade: one object per app, the whole public API behind it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tierline.access.cache import TTLCache
from tierline.access.service import AccessService
from tierline.access.status import AccessStatus, LimitInfo
from tierline.accounts.service import AccountService
from tierline.billing.inbox import Inbox
from tierline.billing.result import IngestResult
from tierline.catalog.config import load_catalog
from tierline.catalog.service import CatalogService
from tierline.catalog.spec import Catalog
from tierline.context import Context
from tierline.credits.service import CreditService
from tierline.db.engine import make_engine, session_factory
from tierline.db.types import utcnow
from tierline.referrals.service import ReferralService
from tierline.settings import TierlineSettings


class Tierline:
    """Tierline for one app: tiers, access, credits, referrals and webhooks on one database.

    Args:
        database_url: where Tierline's tables live (migrated with ``tierline db upgrade``);
            defaults to ``TIERLINE_DATABASE_URL`` or ``sqlite:///tierline.db``.
        settings: every other setting; defaults to the ``TIERLINE_*`` environment.
        catalog: a :class:`Catalog`, or the path of a catalog TOML file; defaults to the
            ``catalog`` setting's file when it exists, else an empty catalog.
        engine: an engine to share with the host app instead of creating one.
        clock: the source of "now" (tests move time with it).
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        settings: TierlineSettings | None = None,
        catalog: Catalog | str | Path | None = None,
        engine: Engine | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if settings is None:
            settings = TierlineSettings()
        if database_url is not None:
            settings = settings.model_copy(update={"database_url": database_url})
        self.settings = settings
        self._owns_engine = engine is None
        self.engine = engine if engine is not None else make_engine(settings.database_url)
        self.ctx = Context(
            settings=settings,
            engine=self.engine,
            sessions=session_factory(self.engine),
            clock=clock,
            cache=TTLCache(settings.cache_ttl_seconds),
        )
        self.catalog_spec = _resolve_catalog(catalog, settings)
        self.catalog = CatalogService(self.ctx)
        self.accounts = AccountService(self.ctx)
        self.credits = CreditService(self.ctx)
        self.referrals = ReferralService(self.ctx, self.credits, self.catalog_spec.referrals)
        self.access = AccessService(self.ctx, free_tier=self.catalog_spec.free_tier)
        self.inbox = Inbox(self.ctx, self.catalog, self.referrals)

    # -- access -----------------------------------------------------------------------
    def status(self, account_ref: str) -> AccessStatus:
        """The account's access: active or not, why, until when, its features and limits."""
        return self.access.status(account_ref)

    def has_feature(self, account_ref: str, feature: str) -> bool:
        """Whether the account's current access includes ``feature``."""
        return self.access.has_feature(account_ref, feature)

    def limit(self, account_ref: str, feature: str) -> LimitInfo | None:
        """The numeric limit of ``feature`` for the account, or ``None`` if it has none."""
        return self.access.limit(account_ref, feature)

    # -- webhooks ---------------------------------------------------------------------
    def ingest(self, provider: str, headers: Mapping[str, str], body: bytes) -> IngestResult:
        """Verify, store and apply one webhook delivery exactly once; never raises on bad input.

        Answer the provider with ``result.status_code``.
        """
        return self.inbox.ingest(provider, headers, body)

    def close(self) -> None:
        """Release the database connections (only those of an engine Tierline created)."""
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Tierline:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _resolve_catalog(catalog: Catalog | str | Path | None, settings: TierlineSettings) -> Catalog:
    if isinstance(catalog, Catalog):
        return catalog
    if catalog is not None:
        return load_catalog(Path(catalog))
    default = Path(settings.catalog)
    return load_catalog(default) if default.exists() else Catalog()
