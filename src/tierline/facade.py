"""The :class:`Tierline` facade: one object per app, the whole public API behind it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from tierline.access.cache import TTLCache
from tierline.access.changes import AccessHook
from tierline.access.service import AccessService
from tierline.access.status import AccessStatus, LimitInfo
from tierline.accounts.service import AccountInfo, AccountRef, AccountService, canonical_ref
from tierline.billing.checkout import checkout_url
from tierline.billing.inbox import Inbox
from tierline.billing.result import IngestResult
from tierline.billing.subscriptions import has_paid_subscription
from tierline.catalog.config import load_catalog
from tierline.catalog.service import CatalogService, SyncReport
from tierline.catalog.spec import Catalog
from tierline.context import Context
from tierline.credits.service import CreditInfo, CreditService
from tierline.db.engine import make_engine, session_factory
from tierline.db.types import utcnow
from tierline.outbox.service import OutboxService
from tierline.overrides.service import OverrideService
from tierline.overrides.snapshot import OverrideSnapshot
from tierline.referrals.service import ReferralInfo, ReferralService, ReferralStats
from tierline.seats.service import SeatService
from tierline.settings import TierlineSettings
from tierline.usage.features import FeatureKeys
from tierline.usage.service import UsageService

if TYPE_CHECKING:
    from tierline.access.listen import CacheListener
    from tierline.billing.actions.base import ProrationPreview


class Tierline:
    """Tierline for one app: tiers, access, credits, referrals and webhooks on one database.

    Every method taking an account ref accepts the host's id as it has it: a ``str``, an
    ``int`` or a ``uuid.UUID`` (see :func:`~tierline.accounts.service.canonical_ref`: ``3`` and
    ``"3"`` are the same account; a ``bool`` is refused with :class:`ValidationError`).

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
        self.engine = (
            engine
            if engine is not None
            else make_engine(settings.database_url, pool_size=settings.db_pool_size)
        )
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
        self.referrals = ReferralService(
            self.ctx, self.credits, self.catalog_spec.referrals, has_paid_subscription
        )
        self.access = AccessService(self.ctx, self.catalog_spec)
        self.inbox = Inbox(self.ctx, self.referrals, self.access.tiers)
        #: Provider calls waiting for delivery after their commit (``tierline outbox ...``).
        self.outbox = OutboxService(self.ctx)
        features = FeatureKeys(self.engine, self.ctx.cache)
        overrides = OverrideSnapshot(self.engine, self.ctx.cache)
        self.access.adjust = overrides.adjust
        self.access.adjust_in = overrides.adjust_in
        self.ctx.changes.reader = self.access.status_in
        #: PostgreSQL: applies other processes' invalidations to this cache (started lazily).
        self.cache_listener: CacheListener | None = None
        if self.ctx.cache.enabled and self.ctx.changes.notifying:
            from tierline.access.listen import CacheListener

            self.cache_listener = CacheListener(self.engine.url, self.ctx.cache)
            self.ctx.cache.on_fill = self.cache_listener.start
        #: Per-account overrides: ``tl.overrides.set(ref, feature, limit=..., reason=...)``.
        self.overrides = OverrideService(self.ctx, overrides, features)
        #: Usage metering: ``tl.usage.check/track/release/summary(ref, feature, ...)``.
        self.usage = UsageService(self.ctx, self.access, self.accounts, features)
        #: Seats: ``tl.seats.assign/unassign/list(ref, member_ref)``.
        self.seats = SeatService(self.ctx, self.access)

    # -- access -----------------------------------------------------------------------
    def status(self, account_ref: AccountRef) -> AccessStatus:
        """The account's access: active or not, why, until when, its features and limits."""
        return self.access.status(canonical_ref(account_ref))

    def has_feature(self, account_ref: AccountRef, feature: str) -> bool:
        """Whether the account's current access includes ``feature``."""
        return self.access.has_feature(canonical_ref(account_ref), feature)

    def limit(self, account_ref: AccountRef, feature: str) -> LimitInfo | None:
        """The numeric limit of ``feature`` for the account, or ``None`` if it has none."""
        return self.access.limit(canonical_ref(account_ref), feature)

    def on_access_change(self, callback: AccessHook) -> AccessHook:
        """Call ``callback(account_ref, old, new)`` (two :class:`AccessStatus`) after the commit
        of every write that changes the account's access: webhooks, reconciliation, credits,
        overrides, seat-limit changes, referral rewards, self-service actions.

        Never inside the write's transaction: the change is written to the outbox with the
        write and delivered right after the commit. A callback that raises is logged and
        retried with backoff (``tl.outbox.deliver_due()`` or a worker thread running
        :func:`tierline.outbox.worker.run_worker` in this process); it never undoes the write.
        Returns ``callback``, so it works as a decorator. See :mod:`tierline.access.changes`
        for what counts as a change.
        """
        return self.ctx.changes.on_change(callback)

    def is_admin_token(self, token: str | None) -> bool:
        """Whether ``token`` is the configured admin bearer token (constant-time compare)."""
        return self.access.is_admin_token(token)

    def assign_exempt(self, account_ref: AccountRef, tier_key: str) -> AccessStatus:
        """Put the account on an exempt tier (staff, partners): active without payment."""
        return self.access.assign_exempt(canonical_ref(account_ref), tier_key)

    # -- accounts, credits, referrals ---------------------------------------------------
    def ensure_account(self, account_ref: AccountRef, email: str | None = None) -> AccountInfo:
        """The account with the host's id ``account_ref``, created if missing."""
        return self.accounts.ensure(canonical_ref(account_ref), email)

    def grant_credit(
        self,
        account_ref: AccountRef,
        *,
        days: int | None = None,
        until: datetime | None = None,
        reason: str | None = None,
        by: str | None = None,
        idempotency_key: str | None = None,
    ) -> CreditInfo:
        """Grant paid access for ``days`` (or ``until``), extending from the current expiry."""
        return self.credits.grant(
            canonical_ref(account_ref),
            days=days,
            until=until,
            reason=reason,
            by=by,
            idempotency_key=idempotency_key,
        )

    def revoke_credit(self, account_ref: AccountRef) -> int:
        """Revoke the account's active and future credits; returns how many were revoked."""
        return self.credits.revoke(canonical_ref(account_ref))

    def referral_code(self, account_ref: AccountRef) -> str:
        """The account's referral code, assigned on first request."""
        return self.referrals.code(canonical_ref(account_ref))

    def attribute_referral(self, referred_ref: AccountRef, code: str) -> ReferralInfo:
        """Record that ``referred_ref`` signed up with ``code``; rejects bad codes clearly."""
        return self.referrals.attribute(canonical_ref(referred_ref), code)

    def referral_stats(self, account_ref: AccountRef) -> ReferralStats:
        """Pending, converted and credited referrals of the account, and its active credits."""
        return self.referrals.stats(canonical_ref(account_ref))

    # -- checkout -----------------------------------------------------------------------
    def checkout_url(
        self,
        account_ref: AccountRef,
        tier_key: str,
        *,
        provider: str | None = None,
        success_url: str | None = None,
        cancel_url: str | None = None,
        allow_provider_switch: bool = False,
    ) -> str:
        """The URL to send the account to so it pays for ``tier_key``.

        ``provider`` defaults to the tier's first link (Stripe, then Paddle, ... the fake
        provider last). Stripe answers with a new Checkout Session's URL, Paddle with a
        transaction's checkout URL, Polar, Whop and Lemon Squeezy with their hosted checkout;
        the fake provider with the local fake checkout page.

        Raises:
            ValidationError: the account already pays for ``tier_key``, or already subscribes
                through this provider (use :meth:`change_plan`).
            ProviderSwitchError: the account pays through another provider; pass
                ``allow_provider_switch=True`` once the user has confirmed.
        """
        return checkout_url(
            self.ctx,
            canonical_ref(account_ref),
            tier_key,
            provider=provider,
            success_url=success_url,
            cancel_url=cancel_url,
            allow_provider_switch=allow_provider_switch,
        )

    # -- self-service (tierline.billing.selfservice) ----------------------------------------
    def portal_url(self, account_ref: AccountRef, *, return_url: str | None = None) -> str:
        """The provider's customer portal for the account's live subscription.

        Raises ``NotFoundError`` (no live subscription), ``UnsupportedActionError``, or
        ``ProviderAPIError``/``ConfigurationError`` from the provider.
        """
        from tierline.billing import selfservice

        return selfservice.portal_url(self.ctx, canonical_ref(account_ref), return_url=return_url)

    def cancel_at_period_end(self, account_ref: AccountRef) -> None:
        """Stop the account's subscription from renewing; access lasts until the period ends."""
        from tierline.billing import selfservice

        selfservice.cancel_at_period_end(self.ctx, canonical_ref(account_ref))

    def resume(self, account_ref: AccountRef) -> None:
        """Undo :meth:`cancel_at_period_end` before the period ends."""
        from tierline.billing import selfservice

        selfservice.resume(self.ctx, canonical_ref(account_ref))

    def preview_change(self, account_ref: AccountRef, tier_key: str) -> ProrationPreview | None:
        """What moving to ``tier_key`` would charge now (``None``: the provider has no preview)."""
        from tierline.billing import selfservice

        return selfservice.preview_change(self.ctx, canonical_ref(account_ref), tier_key)

    def change_plan(self, account_ref: AccountRef, tier_key: str) -> None:
        """Move the account's subscription to ``tier_key`` through its provider."""
        from tierline.billing import selfservice

        selfservice.change_plan(self.ctx, canonical_ref(account_ref), tier_key)

    # -- catalog ------------------------------------------------------------------------
    def sync_catalog(self, catalog: Catalog | None = None, *, dry_run: bool = False) -> SyncReport:
        """Write the catalog (default: the one this object was built with) to the database."""
        return self.catalog.sync(catalog or self.catalog_spec, dry_run=dry_run)

    # -- webhooks ---------------------------------------------------------------------
    def ingest(self, provider: str, headers: Mapping[str, str], body: bytes) -> IngestResult:
        """Verify, store and apply one webhook delivery exactly once; never raises on bad input.

        Answer the provider with ``result.status_code``.
        """
        return self.inbox.ingest(provider, headers, body)

    def close(self) -> None:
        """Stop the background delivery thread (the access webhook items already handed to it
        are still tried if they start within
        :data:`~tierline.outbox.background.CLOSE_SECONDS`; the others stay pending for the
        worker), stop the cache listener and release the database connections (only those of
        an engine Tierline created)."""
        self.ctx.background.close()
        if self.cache_listener is not None:
            self.cache_listener.stop()
        self.access.close()
        self.usage.close()
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
