"""Reconcile one provider: diff its subscriptions against Tierline's rows, optionally apply.

Each subscription the provider lists is normalized by the provider's own webhook parser (a
synthetic event wraps the API object), compared with Tierline's row on status, tier, period
end, quantity, cancellation and account, and with ``apply`` written through the inbox like a
webhook (:meth:`tierline.billing.inbox.Inbox.ingest_synthetic`), so ordering, terminal states,
account look-ups, referral conversions and the outbox all behave as for a delivery. The
synthetic event is stored under ``reconcile:<subscription id>:<marker>`` and visible in
``tierline events list``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tierline.accounts.customers import linked_customers
from tierline.accounts.models import Account
from tierline.billing.models import Subscription
from tierline.billing.providers import ProviderEvent, SubscriptionSnapshot, get_provider
from tierline.billing.reconcile.sources import Page, SubscriptionSource, source_for
from tierline.catalog.models import Tier
from tierline.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from tierline.facade import Tierline

#: Called after each page: (subscriptions so far, the provider's estimated total or None).
Progress = Callable[[int, int | None], None]


class Change(StrEnum):
    """How Tierline's row compares with the provider's subscription."""

    SAME = "same"
    #: The provider has it; Tierline has no row.
    MISSING = "missing"
    #: Both have it and at least one compared field differs.
    DIFFERS = "differs"
    #: Tierline has a row the provider did not list.
    NOT_AT_PROVIDER = "not_at_provider"


@dataclass
class SubscriptionDiff:
    """One subscription's comparison (``provider``/``tierline``: the compared fields)."""

    subscription_id: str
    change: Change
    customer_id: str | None = None
    account_ref: str | None = None
    provider_state: dict[str, Any] = field(default_factory=dict)
    tierline_state: dict[str, Any] = field(default_factory=dict)
    #: The compared fields whose values differ.
    fields: list[str] = field(default_factory=list)
    #: With ``apply``: the inbox's outcome for the synthetic event (``processed``...).
    applied: str | None = None
    applied_detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "subscription_id": self.subscription_id,
            "change": self.change.value,
            "customer_id": self.customer_id,
            "account_ref": self.account_ref,
            "provider": self.provider_state,
            "tierline": self.tierline_state,
            "fields": self.fields,
            "applied": self.applied,
            "applied_detail": self.applied_detail,
        }


@dataclass
class ReconcileReport:
    """Every subscription compared, for one provider (and one account when asked)."""

    provider: str
    account_ref: str | None
    applied: bool
    diffs: list[SubscriptionDiff] = field(default_factory=list)

    def count(self, change: Change) -> int:
        return sum(1 for diff in self.diffs if diff.change is change)

    @property
    def in_sync(self) -> bool:
        """Whether nothing differs (after ``apply``: whether every repair was applied)."""
        if self.applied:
            return all(
                diff.change in (Change.SAME, Change.NOT_AT_PROVIDER)
                or diff.applied in ("processed", "duplicate")
                for diff in self.diffs
            )
        return all(diff.change is Change.SAME for diff in self.diffs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "account_ref": self.account_ref,
            "applied": self.applied,
            "counts": {change.value: self.count(change) for change in Change},
            "subscriptions": [diff.to_dict() for diff in self.diffs],
        }


#: The fields compared, in display order.
COMPARED = ("status", "tier", "period_end", "quantity", "cancel_at_period_end", "account")


class Reconciler:
    """Reconcile one Tierline instance with its providers."""

    def __init__(self, tl: Tierline, *, source: SubscriptionSource | None = None) -> None:
        self.tl = tl
        self._source = source

    def run(
        self,
        provider: str,
        *,
        account_ref: str | None = None,
        apply: bool = False,
        progress: Progress | None = None,
    ) -> ReconcileReport:
        """Fetch ``provider``'s subscriptions (of ``account_ref``'s customers), diff, apply.

        Raises :class:`ValidationError` for a provider that cannot be reconciled,
        :class:`NotFoundError` for an unknown account, :class:`ValidationError` for an account
        with no customer at the provider, and the provider's API errors as
        :class:`~tierline.errors.ProviderAPIError` / :class:`~tierline.errors.ConfigurationError`.
        """
        source = self._source or source_for(provider, self.tl.settings, self.tl.ctx.clock)
        customers = self._customers(provider, account_ref) if account_ref is not None else None
        rows = self._rows(provider, account_ref)
        impl = get_provider(provider, self.tl.settings, clock=self.tl.ctx.clock)
        report = ReconcileReport(provider, account_ref, apply)
        seen: set[str] = set()
        fetched = 0
        for page in source.pages(customers):
            fetched += len(page.objects)
            for obj in page.objects:
                payload = source.synthetic_event(obj, page.fetched_at)
                event = impl.parse(payload)
                diff = self._compare(provider, event, rows)
                if diff.subscription_id in seen:
                    continue
                seen.add(diff.subscription_id)
                if apply and diff.change in (Change.MISSING, Change.DIFFERS):
                    result = self.tl.inbox.ingest_synthetic(provider, payload)
                    diff.applied, diff.applied_detail = result.outcome.value, result.detail
                report.diffs.append(diff)
            if progress is not None:
                progress(fetched, _total(page, fetched))
        for external_id, row in rows.items():
            if external_id not in seen:
                report.diffs.append(
                    SubscriptionDiff(
                        external_id,
                        Change.NOT_AT_PROVIDER,
                        customer_id=row["customer_id"],
                        account_ref=row["account"],
                        tierline_state=_visible(row),
                    )
                )
        return report

    # -- Tierline's side ---------------------------------------------------------------
    def _customers(self, provider: str, account_ref: str) -> list[str]:
        with self.tl.engine.connect() as conn:
            account_id = conn.execute(select(Account.id).where(Account.ref == account_ref)).scalar()
            if account_id is None:
                raise NotFoundError(f"no account with ref {account_ref!r}")
            customers = linked_customers(conn, provider, account_id)
            for customer in conn.execute(
                select(Subscription.customer_id)
                .where(
                    Subscription.account_id == account_id,
                    Subscription.provider == provider,
                    Subscription.customer_id.is_not(None),
                )
                .distinct()
            ).scalars():
                if customer is not None and customer not in customers:
                    customers.append(customer)
        if not customers:
            raise ValidationError(
                f"account {account_ref!r} has no {provider} customer yet; link one with "
                f"`tierline accounts link {account_ref} --provider {provider} --customer ID`"
            )
        return customers

    def _rows(self, provider: str, account_ref: str | None) -> dict[str, dict[str, Any]]:
        query = (
            select(
                Subscription.external_id,
                Subscription.customer_id,
                Subscription.status,
                Subscription.current_period_end,
                Subscription.quantity,
                Subscription.cancel_at_period_end,
                Tier.key.label("tier"),
                Account.ref.label("account"),
            )
            .join(Account, Account.id == Subscription.account_id)
            .outerjoin(Tier, Tier.id == Subscription.tier_id)
            .where(Subscription.provider == provider)
            .order_by(Subscription.id)
        )
        if account_ref is not None:
            query = query.where(Account.ref == account_ref)
        with self.tl.engine.connect() as conn:
            return {
                row.external_id: {
                    "customer_id": row.customer_id,
                    "status": row.status,
                    "tier": row.tier,
                    "period_end": row.current_period_end,
                    "quantity": row.quantity,
                    "cancel_at_period_end": bool(row.cancel_at_period_end),
                    "account": row.account,
                }
                for row in conn.execute(query)
            }

    # -- comparing ---------------------------------------------------------------------
    def _compare(
        self, provider: str, event: ProviderEvent, rows: Mapping[str, dict[str, Any]]
    ) -> SubscriptionDiff:
        snap = event.subscription
        if snap is None:  # the parser read no subscription: nothing to compare
            raise ValidationError(f"{provider} object {event.event_id} is not a subscription")
        theirs = self._provider_state(provider, snap)
        ours = rows.get(snap.external_id)
        diff = SubscriptionDiff(
            snap.external_id,
            Change.MISSING if ours is None else Change.SAME,
            customer_id=snap.customer_id,
            account_ref=(ours or {}).get("account") or snap.account_ref,
            provider_state=_visible(theirs),
            tierline_state={} if ours is None else _visible(ours),
        )
        if ours is None:
            return diff
        for name in COMPARED:
            expected = theirs.get(name)
            if name == "account" and expected is None:
                continue  # the provider's object names no account: nothing to compare
            if name == "tier" and expected is None:
                continue  # an unmapped price keeps the stored tier (see the inbox)
            if expected != ours.get(name):
                diff.fields.append(name)
        if diff.fields:
            diff.change = Change.DIFFERS
        return diff

    def _provider_state(self, provider: str, snap: SubscriptionSnapshot) -> dict[str, Any]:
        tiers = self.tl.access.tiers.get()
        tier = tiers.tier_for_link(provider, snap.tier_keys)
        plan = None
        for item in snap.items:
            if tiers.tier_for_link(provider, item.keys) is not None:
                plan = item
                break
        if plan is None and snap.items:
            plan = snap.items[0]
        ends = [item.current_period_end for item in snap.items if item.current_period_end]
        return {
            "status": snap.status.value,
            "tier": None if tier is None else tier.key,
            "period_end": min(ends) if ends else snap.current_period_end,
            "quantity": plan.quantity if plan is not None and plan.quantity is not None else 1,
            "cancel_at_period_end": snap.cancel_at_period_end,
            "account": snap.account_ref,
        }


def _visible(state: Mapping[str, Any]) -> dict[str, Any]:
    """The compared fields as JSON-ready values."""
    shown: dict[str, Any] = {}
    for name in COMPARED:
        value = state.get(name)
        shown[name] = value.isoformat() if isinstance(value, datetime) else value
    return shown


def _total(page: Page, fetched: int) -> int | None:
    if page.estimated_total is None:
        return None
    return max(page.estimated_total, fetched)
