"""What a verified webhook changes: subscriptions, account links, referral conversions.

Everything here runs inside the inbox's apply transaction, after the event was marked handled
in that same transaction, so the effect and the mark commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from tierline.access.tiers import TierCache
from tierline.accounts.models import Account
from tierline.accounts.queries import (
    AccountRef,
    account_by_id,
    account_by_ref,
    insert_account,
    send_ensure_account,
)
from tierline.accounts.service import clean_ref
from tierline.billing.claims import any_unmapped, unmapped_waiting
from tierline.billing.livemode import mode_mismatch
from tierline.billing.models import EventStatus, SubscriptionStatus
from tierline.billing.outbox_calls import queue_stripe_coupon
from tierline.billing.plan import Plan, choose_plan, period_end
from tierline.billing.providers.base import ProviderEvent, SubscriptionSnapshot
from tierline.billing.subscriptions import (
    PlanTerms,
    Written,
    account_id_for,
    apply_snapshot,
    link_subscription,
    lock_holder,
    send_upsert_snapshot,
    stored_subscription,
    upserted,
    upserted_account,
    upserted_from,
)
from tierline.context import Context
from tierline.db.fast import Flight, Pending
from tierline.errors import ValidationError
from tierline.referrals.service import ReferralService

#: Payment events that can convert a referral (status itself comes from subscription events).
PAYMENT_TYPES = frozenset(
    {"invoice.paid", "invoice.payment_succeeded", "transaction.paid", "transaction.completed"}
    # Polar orders, Whop payments, Lemon Squeezy invoices and orders (their provider modules).
    | {"order.paid", "order.created", "payment.succeeded"}
    | {"subscription_payment_success", "subscription_payment_recovered", "order_created"}
)
#: Payment events stored for the record; the subscription events carry the resulting status.
NO_EFFECT_TYPES = frozenset(
    {"invoice.payment_failed", "payment.failed", "subscription_payment_failed"}
)


@dataclass
class Effect:
    """The outcome of applying one event, and what to do after its transaction commits."""

    status: EventStatus
    detail: str
    #: Accounts whose access may have changed: their cached status is invalidated.
    accounts: set[str] = field(default_factory=set)
    #: A checkout linked this customer to an account: replay its unmapped events.
    linked_customer: str | None = None
    linked_subscription: str | None = None
    #: Applied, but something needs a look (an unmapped price, items on several tiers): kept
    #: in the event's ``last_error`` and logged.
    warning: str | None = None
    #: Outbox items this transaction wrote: delivered right after the commit.
    outbox: list[int] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Add ``message`` to the effect's warning and detail."""
        self.warning = message if self.warning is None else f"{self.warning}; {message}"
        self.detail += f"; warning: {message}"


def fact(data: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string fact of an event's normalized data (``account_ref``...), or None."""
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def customer_of(event: ProviderEvent) -> str | None:
    """The provider customer an event concerns, if it says."""
    if event.subscription is not None and event.subscription.customer_id:
        return event.subscription.customer_id
    return fact(event.data, "customer_id")


def subscription_of(event: ProviderEvent) -> str | None:
    """The provider subscription an event concerns, if it says."""
    if event.subscription is not None:
        return event.subscription.external_id
    return fact(event.data, "subscription_id")


class ApplyTx:
    """The apply transaction: its connection, and an ORM session opened only when needed.

    The hot path runs Core statements on the connection; creating an account or converting a
    referral goes through the other domains' ORM helpers, which get a session joined to the
    same transaction (so everything still commits or rolls back together).
    """

    def __init__(self, conn: Connection, flown: tuple[Plan, Sent] | None = None) -> None:
        self.conn = conn
        #: A prepared snapshot's plan and the statements already sent for it in a flight
        #: (:meth:`EffectApplier.send`): applying only reads what they did.
        self.flown = flown
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(bind=self.conn, expire_on_commit=False)
        return self._session

    def flush(self) -> None:
        """Write pending ORM changes before the transaction commits."""
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        """Release the session (the transaction itself belongs to the caller)."""
        if self._session is not None:
            self._session.close()


@dataclass(frozen=True)
class Sent:
    """The statements of a prepared snapshot's flight (:meth:`EffectApplier.send`)."""

    #: The subscription's upsert, which also returns its account (and may carry the NOTIFY).
    upsert: Pending
    #: The event row's insert, which probed for waiting unmapped events
    #: (``claims.send_insert_claim(..., probe_unmapped=True)``).
    claim: Pending
    #: The account ref of the snapshot.
    account_ref: str
    #: Whether the upsert carries the account's cache invalidation (``notify_channel``).
    notifying: bool

    def notified(self) -> frozenset[str]:
        """The refs whose NOTIFY the flight queued (read after it landed): the account's, when
        the upsert wrote its row and carried the NOTIFY."""
        if self.notifying and upserted(self.upsert) is not Written.NOTHING:
            return frozenset((self.account_ref,))
        return frozenset()


def _moved_from(
    tx: ApplyTx, previous: int | None, account: AccountRef, written: Written
) -> set[str]:
    """The ref of the account a subscription was stored under (``previous``, an id read with
    the row locked before the write) when it is not ``account``, its account now: empty when
    it did not move or nothing was written.

    Raises :class:`HolderUnseen` when the write updated a row that the read before it did not
    find: another delivery committed the subscription's first row after that read's snapshot
    was taken (PostgreSQL: a row inserted by a transaction not yet committed when a statement
    starts is invisible to it, and ``FOR UPDATE`` cannot lock or wait for it, "Read Committed
    Isolation Level"), so the account it left is unknown. Tried again, the read sees the row.
    """
    if written is Written.NOTHING:
        return set()
    if previous is None:
        if written is Written.UPDATED:
            raise HolderUnseen(account.ref)
        return set()
    if previous == account.id:
        return set()
    left = account_by_id(tx.conn, previous)
    return set() if left is None else {left.ref}


def _terms(snap: SubscriptionSnapshot, plan: Plan) -> PlanTerms:
    return PlanTerms(
        tier_id=None if plan.tier is None else plan.tier.id,
        quantity=plan.quantity(),
        period_end=period_end(snap, plan.item),
    )


def _unmapped(event: ProviderEvent) -> str:
    snap = event.subscription
    assert snap is not None
    keys = ", ".join(repr(key) for key in snap.tier_keys) or "none"
    return f"no tier is linked to {event.provider} key(s) {keys} of subscription {snap.external_id}"


class HolderUnseen(Exception):  # noqa: N818 - a retry signal, caught by the inbox
    """A write updated a subscription row that the locked read of its holder before it did
    not see (a concurrent first insert, see :func:`_moved_from`): the transaction must be
    rolled back and tried again."""


class _Unmapped(Exception):  # noqa: N818 - control flow, never escapes this module
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EffectApplier:
    """Applies normalized events to the database inside the caller's transaction."""

    def __init__(self, ctx: Context, referrals: ReferralService, tiers: TierCache) -> None:
        self.ctx = ctx
        self.referrals = referrals
        self.tiers = tiers
        self._one_flight = ctx.engine.dialect.name == "postgresql"

    def apply(self, tx: ApplyTx, event: ProviderEvent, now: datetime) -> Effect:
        """Apply ``event``; an event that cannot be mapped yet comes back ``UNMAPPED``."""
        if tx.flown is not None:
            return self._finish(tx, event, *tx.flown)
        if (other_mode := mode_mismatch(event, self.ctx.settings)) is not None:
            return Effect(EventStatus.IGNORED, other_mode)
        effect = Effect(EventStatus.IGNORED, f"{event.type}: no effect in Tierline")
        try:
            account_ref = fact(event.data, "account_ref")
            if account_ref is not None and (customer_of(event) or subscription_of(event)):
                effect = self._link_checkout(tx, event, account_ref, now)
            if event.subscription is not None:
                effect = self._merge(effect, self._snapshot(tx, event, now))
            elif event.type in PAYMENT_TYPES:
                effect = self._merge(effect, self._payment(tx, event))
            elif event.type in NO_EFFECT_TYPES:
                effect.detail = f"{event.type}: recorded; status comes from subscription events"
        except _Unmapped as exc:
            return Effect(EventStatus.UNMAPPED, exc.reason)
        return effect

    @staticmethod
    def _merge(first: Effect, second: Effect) -> Effect:
        if first.status is EventStatus.IGNORED:
            return second
        second.accounts |= first.accounts
        second.outbox[:0] = first.outbox
        second.linked_customer = first.linked_customer or second.linked_customer
        second.linked_subscription = first.linked_subscription or second.linked_subscription
        second.detail = f"{first.detail}; {second.detail}"
        if first.warning is not None:
            second.warning = (
                first.warning if second.warning is None else f"{first.warning}; {second.warning}"
            )
        return second

    # -- checkout: the moment an account meets its provider customer ----------------------
    def _link_checkout(
        self, tx: ApplyTx, event: ProviderEvent, account_ref: str, now: datetime
    ) -> Effect:
        account = self._ensure_account(tx, account_ref)
        customer_id = customer_of(event)
        subscription_id = subscription_of(event)
        status = None
        moved_from: set[str] = set()
        if subscription_id is not None:
            previous = lock_holder(tx.conn, event.provider, subscription_id)
            linked = link_subscription(
                tx.conn,
                event.provider,
                subscription_id,
                account_id=account.id,
                customer_id=customer_id,
                now=now,
            )
            status = linked.status
            moved_from = _moved_from(tx, previous, account, linked.written)
        effect = Effect(
            EventStatus.PROCESSED,
            f"checkout linked account {account.ref!r} to "
            f"{customer_id or '-'} / {subscription_id or '-'}",
            accounts={account.ref, *moved_from},
            linked_customer=customer_id,
            linked_subscription=subscription_id,
        )
        if status is SubscriptionStatus.ACTIVE:
            # The subscription's own event came first and was stored under this account
            # already: its referral converts now whichever arrived first.
            self._convert(tx, event.provider, account, subscription_id, effect)
        return effect

    # -- subscription snapshots --------------------------------------------------------
    def _snapshot(self, tx: ApplyTx, event: ProviderEvent, now: datetime) -> Effect:
        """Apply a subscription snapshot; its status never waits on the price mapping.

        The tier, quantity and period end come from the plan item (:mod:`tierline.billing.plan`).
        When no item maps to a tier, a subscription already stored with a tier still takes the
        snapshot's status, period and flags (a price whose lookup key was transferred, or whose
        ``custom_data`` was edited, must not lose a cancellation): its tier and quantity are
        kept and the event is processed with a warning. Only an unseen subscription on an
        unmapped price is held as ``unmapped`` for replay.
        """
        snap = event.subscription
        assert snap is not None
        plan = self._plan(snap, event.provider)
        if plan.tier is None:
            stored = stored_subscription(tx.conn, event.provider, snap.external_id)
            if stored is None or stored.tier_id is None:
                raise _Unmapped(
                    f"{_unmapped(event)}; add a link to the catalog, run `tierline catalog sync`, "
                    "then `tierline events replay --unmapped`"
                )
        # The subscription's holder, its row locked (see lock_holder). A snapshot naming another
        # account moves the subscription: the account it leaves loses that access, so it
        # changes too (its cached status is dropped, hooks hear it). A snapshot naming none
        # stays with this holder: read without the lock, it could be the account before a
        # concurrent move, and the write would move the subscription back.
        if snap.account_ref is None:
            previous = lock_holder(tx.conn, event.provider, snap.external_id)
            account = self._account_for(
                tx, event.provider, None, snap.external_id, snap.customer_id, previous
            )
        else:
            # The account first, as the one-flight path orders them (no lock-order clash).
            account = self._ensure_account(tx, snap.account_ref)
            previous = lock_holder(tx.conn, event.provider, snap.external_id)
        written = apply_snapshot(
            tx.conn,
            event.provider,
            snap,
            account_id=account.id,
            terms=_terms(snap, plan),
            now=now,
        )
        effect = self._snapshot_effect(
            tx, event, plan, account, written, lambda: any_unmapped(tx.conn, event.provider)
        )
        effect.accounts.update(_moved_from(tx, previous, account, written))
        return effect

    def _snapshot_effect(
        self,
        tx: ApplyTx,
        event: ProviderEvent,
        plan: Plan,
        account: AccountRef,
        written: Written,
        waiting_unmapped: Callable[[], bool],
    ) -> Effect:
        """The effect of a snapshot written (or not) to the subscription row."""
        snap = event.subscription
        assert snap is not None
        if written is not Written.NOTHING:
            tier = f"tier {plan.tier.key!r}" if plan.tier is not None else "its stored tier"
            effect = Effect(
                EventStatus.PROCESSED,
                f"subscription {snap.external_id} {snap.status.value} on {tier} "
                f"for account {account.ref!r}",
                accounts={account.ref},
            )
            if plan.tier is None:
                effect.warn(f"price unmapped: {_unmapped(event)}; the stored tier is kept")
            if plan.warning is not None:
                effect.warn(plan.warning)
            if written is Written.INSERTED and waiting_unmapped():
                # A subscription seen for the first time: its events that came before it and
                # could not be placed (unmapped) are replayed, so delivery order never matters.
                effect.linked_subscription = snap.external_id
                effect.linked_customer = snap.customer_id
        else:
            effect = Effect(
                EventStatus.PROCESSED,
                f"stale snapshot ignored: subscription {snap.external_id} has newer or final state",
            )
        if snap.status is SubscriptionStatus.ACTIVE:
            # Also when stale: the subscription WAS active (paid) at that moment, so the
            # referral converts whatever order its events arrive in.
            self._convert(tx, event.provider, account, snap.external_id, effect)
        return effect

    # -- one flight (PostgreSQL) ---------------------------------------------------------
    def prepare(self, event: ProviderEvent) -> Plan | None:
        """The plan of a snapshot whose writes :meth:`send` can put in one flight, else None.

        That is the common case on PostgreSQL: a subscription event of a known account ref
        (created if new) whose price maps to a tier, not a checkout. Everything else goes
        through :meth:`apply`, statement by statement.
        """
        snap = event.subscription
        if (
            not self._one_flight
            or snap is None
            or snap.account_ref is None
            or fact(event.data, "account_ref") is not None
            or mode_mismatch(event, self.ctx.settings) is not None
        ):
            return None
        try:
            if clean_ref(snap.account_ref) != snap.account_ref:
                return None
        except ValidationError:
            return None  # apply() reports it as unmapped
        plan = self._plan(snap, event.provider)
        return plan if plan.tier is not None else None

    def _plan(self, snap: SubscriptionSnapshot, provider: str) -> Plan:
        # The in-memory tier snapshot holds every provider link; a key it does not know may
        # have been linked by another process since it was loaded, so read it again once.
        plan = choose_plan(snap, provider, self.tiers.get())
        if plan.tier is None:
            plan = choose_plan(snap, provider, self.tiers.reload())
        return plan

    def send(
        self,
        sent: Flight,
        event: ProviderEvent,
        plan: Plan,
        now: datetime,
        claim: Pending,
        notify_channel: str | None = None,
    ) -> Sent:
        """Send a prepared snapshot's statements after ``claim``, the event row's insert sent
        with ``probe_unmapped`` (whether unmapped events wait): create the account unless it
        exists, then upsert the subscription (account found by a subquery on its ref), which
        returns the account, the account it held the subscription before (row locked) and,
        with ``notify_channel``, sends the account's NOTIFY.
        :meth:`apply` (given them in ``ApplyTx.flown``) reads them once the flight has
        landed."""
        snap = event.subscription
        assert snap is not None and snap.account_ref is not None
        ref = snap.account_ref
        send_ensure_account(sent, ref, self.ctx.clock())
        upsert = send_upsert_snapshot(
            sent,
            event.provider,
            snap,
            account_ref=ref,
            terms=_terms(snap, plan),
            now=now,
            notify_channel=notify_channel,
        )
        return Sent(upsert, claim, ref, notifying=notify_channel is not None)

    def _finish(self, tx: ApplyTx, event: ProviderEvent, plan: Plan, sent: Sent) -> Effect:
        """The effect of a snapshot :meth:`send` wrote; converts a referral if it is due."""
        # The upsert returned its row's account; a stale snapshot writes no row, so its
        # account (created in the flight if it was new) is looked up.
        account = upserted_account(sent.upsert, sent.account_ref) or account_by_ref(
            tx.conn, sent.account_ref
        )
        assert account is not None
        effect = self._snapshot_effect(
            tx,
            event,
            plan,
            account,
            upserted(sent.upsert),
            lambda: unmapped_waiting(sent.claim),
        )
        # The account the subscription left, when the snapshot moved it (see _snapshot).
        effect.accounts.update(
            _moved_from(tx, upserted_from(sent.upsert), account, upserted(sent.upsert))
        )
        return effect

    # -- payments ----------------------------------------------------------------------
    def _payment(self, tx: ApplyTx, event: ProviderEvent) -> Effect:
        amount = event.data.get("amount_paid")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return Effect(EventStatus.PROCESSED, f"{event.type}: nothing paid, nothing to do")
        subscription_id = subscription_of(event)
        account = self._account_for(tx, event.provider, None, subscription_id, customer_of(event))
        effect = Effect(
            EventStatus.PROCESSED,
            f"{event.type}: payment of {amount} by account {account.ref!r}",
            accounts={account.ref},
        )
        self._convert(tx, event.provider, account, subscription_id, effect)
        return effect

    def _convert(
        self,
        tx: ApplyTx,
        provider: str,
        account: AccountRef,
        subscription_id: str | None,
        effect: Effect,
    ) -> None:
        """Convert the account's referral on its first payment (exactly once, see referrals)."""
        if not account.referred:
            # Attribution sets referred_by_id with the referral row: an account never referred
            # has nothing to convert, and skipping the look-up keeps the hot path short.
            return
        conversion = self.referrals.on_first_payment(
            tx.session, tx.session.get_one(Account, account.id)
        )
        if conversion is None:
            return
        effect.accounts |= {conversion.referrer_ref, conversion.referred_ref}
        effect.detail += f"; referral {conversion.referral_id} converted"
        if conversion.stripe_coupon and provider == "stripe" and subscription_id:
            # Through the outbox, written in this transaction: a missing API key or a Stripe
            # error never fails the webhook (the customer has access at once); the call is
            # made after the commit and retried until Stripe takes it.
            effect.outbox.append(
                queue_stripe_coupon(
                    tx.conn,
                    subscription_id=subscription_id,
                    coupon=conversion.stripe_coupon,
                    referral_id=conversion.referral_id,
                    now=self.ctx.clock(),
                )
            )
            effect.detail += f", coupon {conversion.stripe_coupon!r} queued"

    # -- accounts ----------------------------------------------------------------------
    def _ensure_account(self, tx: ApplyTx, ref: str) -> AccountRef:
        found = account_by_ref(tx.conn, ref)
        if found is not None:
            return found
        try:
            ref = clean_ref(ref)
        except ValidationError as exc:
            raise _Unmapped(f"the payload's account ref is not usable: {exc}") from exc
        return insert_account(tx.conn, ref, self.ctx.clock())

    def _account_for(
        self,
        tx: ApplyTx,
        provider: str,
        account_ref: str | None,
        subscription_id: str | None,
        customer_id: str | None,
        holder: int | None = None,
    ) -> AccountRef:
        """The account named by the payload, else ``holder`` (the stored subscription's
        account, when the caller read it), else the one the stored subscription or a checkout
        linked to the customer."""
        if account_ref is not None:
            return self._ensure_account(tx, account_ref)
        conn = tx.conn
        account_id = (
            holder
            if holder is not None
            else account_id_for(conn, provider, subscription_id, customer_id)
        )
        if account_id is None:
            if customer_id is None:
                raise _Unmapped(
                    f"no account known for {provider} subscription {subscription_id or '-'}: "
                    "the payload names no account ref and no customer"
                )
            raise _Unmapped(
                f"no account known for customer {customer_id}: the payload names no account "
                "ref and no checkout has linked this customer yet"
            )
        account = account_by_id(conn, account_id)
        assert account is not None  # the foreign key guarantees it
        return account
