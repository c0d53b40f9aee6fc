"""The webhook inbox: verify, claim, apply and mark each event exactly once.

One delivery goes through four steps:

1. **Verify** the raw body's signature, parse it, and hold every value to its bounds
   (:mod:`tierline.billing.validation`); bad input is rejected with 400 and stores nothing.
2. **A new event** is inserted, already marked handled, and applied in ONE transaction (one
   commit per webhook): the row and the effect commit together or not at all. A concurrent
   duplicate waits on the unique key and then finds the row; a crash or kill before the commit
   leaves nothing, so the provider's retry applies it once.
3. **A stored event** (a duplicate, or a failed / unmapped one retried) is claimed with one
   conditional UPDATE in a short transaction (see :mod:`tierline.billing.claims`), then
   applied and marked in a second one whose fencing UPDATE runs first. A final event is a
   duplicate (200); one held under a live lease is in flight (409).
4. An exception while applying rolls back and records the event as failed (500, the provider
   retries; ``tierline events replay`` can too).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError

from tierline import bounds
from tierline.access.tiers import TierCache
from tierline.billing import claims
from tierline.billing.apply import (
    ApplyTx,
    Effect,
    EffectApplier,
    HolderUnseen,
    Sent,
    customer_of,
    subscription_of,
)
from tierline.billing.claims import Claim, Refused
from tierline.billing.events import EventInfo, get_event, list_events, parse_status
from tierline.billing.models import Event, EventStatus
from tierline.billing.plan import Plan
from tierline.billing.providers import Provider, ProviderEvent, WebhookRejected, get_provider
from tierline.billing.providers.signing import decode_stored
from tierline.billing.result import IngestOutcome, IngestResult
from tierline.billing.validation import validate_event
from tierline.context import Context
from tierline.db.engine import first_line
from tierline.db.fast import deferred_begin, flight
from tierline.errors import ConfigurationError, NotFoundError, ValidationError
from tierline.outbox.service import OutboxService
from tierline.referrals.service import ReferralService

logger = logging.getLogger("tierline.webhooks")

# Racing inserts (two first events of one subscription) and deadlocks are retried this often
# before the event is recorded as failed.
_APPLY_TRIES = 5
#: What rolls a try back to be tried again: a racing insert, a deadlock or a dropped
#: connection, and a subscription row committed by another delivery after this one looked for
#: it (:class:`~tierline.billing.apply.HolderUnseen`).
_RETRIED = (IntegrityError, OperationalError, HolderUnseen)

_OUTCOME_OF = {
    EventStatus.PROCESSED: IngestOutcome.PROCESSED,
    EventStatus.IGNORED: IngestOutcome.IGNORED,
    EventStatus.UNMAPPED: IngestOutcome.UNMAPPED,
}


class _Exists(Exception):  # noqa: N818 - control flow, never escapes this module
    """The event's row is already stored: take the duplicate / take-over path."""


class _LostClaim(Exception):  # noqa: N818 - control flow, never escapes this module
    """Our lease ran out and another delivery took the event over: apply nothing."""


class Inbox:
    """Verify, claim, apply and mark webhooks exactly once; list and replay stored events."""

    def __init__(self, ctx: Context, referrals: ReferralService, tiers: TierCache) -> None:
        self.ctx = ctx
        self.referrals = referrals
        #: How long a claim is held before another delivery may take it over.
        self.lease = claims.DEFAULT_LEASE
        self._applier = EffectApplier(ctx, referrals, tiers)
        # SQLite has one writer at a time: threads of this process queue on a lock instead of
        # polling the file lock through the busy timeout (which sleeps, and dominates the
        # latency of a threaded web server). Other processes still meet the busy timeout.
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if ctx.engine.dialect.name == "sqlite" else nullcontext()
        )
        self._providers: dict[str, Provider] = {}
        settings = ctx.settings
        if settings.enable_fake_provider and not settings.fake_webhook_secret:
            raise ConfigurationError(
                "the fake provider is enabled (TIERLINE_ENABLE_FAKE_PROVIDER) without a secret: "
                "set TIERLINE_FAKE_WEBHOOK_SECRET (there is no default), or turn it off"
            )

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """One write transaction of the inbox (serialized within the process on SQLite)."""
        with self._write_lock, self.ctx.engine.begin() as conn:
            yield conn

    @contextmanager
    def _flight_transaction(self) -> Iterator[Connection]:
        """:meth:`_transaction` for a transaction whose first statements go in one
        :func:`~tierline.db.fast.flight`: on PostgreSQL its BEGIN rides in that flight
        (:func:`~tierline.db.fast.deferred_begin`)."""
        with self._write_lock, deferred_begin(self.ctx.engine) as conn:
            yield conn

    # -- receiving ---------------------------------------------------------------------
    def ingest(self, provider: str, headers: Mapping[str, str], body: bytes) -> IngestResult:
        """Verify, store and apply one delivery exactly once; never raises, whatever the input.

        Answer the provider with ``result.status_code``: 200 for processed, duplicate, ignored
        and unmapped; 409 while another delivery holds the event; 400 for rejected input
        (nothing stored; ``result.reason`` says why); 500 when applying failed (recorded; the
        provider retries) or Tierline itself broke (logged with its traceback).
        """
        try:
            return self._ingest(provider, headers, body)
        except Exception as exc:
            # Our own bug (bad input is answered above): never let it reach the web server,
            # which would drop the connection; 500 makes the provider retry after the fix.
            logger.exception("cannot ingest %s webhook", bounds.shown(provider))
            return IngestResult(
                IngestOutcome.FAILED,
                f"cannot ingest the webhook: {type(exc).__name__}: {first_line(exc)}",
                reason="internal_error",
            )

    def _ingest(self, provider: str, headers: Mapping[str, str], body: bytes) -> IngestResult:
        try:
            event, text = self._verify(provider, headers, body)
        except WebhookRejected as exc:
            logger.warning(
                "rejected %s webhook: %s: %s",
                bounds.shown(provider),
                exc.reason,
                claims.one_line(str(exc)),
            )
            return IngestResult(IngestOutcome.REJECTED, f"{exc.reason}: {exc}", reason=exc.reason)
        except Exception as exc:
            # A provider module's bug, not bad input: answer 500 so the provider retries
            # after the fix, instead of 400, which would drop the event for good.
            logger.exception("cannot read %s webhook", bounds.shown(provider))
            return IngestResult(
                IngestOutcome.FAILED,
                f"cannot read the webhook: {first_line(exc)}",
                reason="internal_error",
            )
        return self._store_and_apply(event, text)

    def _store_and_apply(self, event: ProviderEvent, text: str) -> IngestResult:
        """A new event is inserted and applied in one transaction; one stored before (a
        duplicate, or a failed / unmapped / abandoned event) is claimed and taken over."""
        try:
            return self._insert_and_apply(event, text)
        except _Exists:
            pass
        with self._transaction() as conn:
            taken = claims.take_over(
                conn,
                now=self.ctx.clock(),
                lease=self.lease,
                provider=event.provider,
                external_id=event.event_id,
            )
        if not isinstance(taken, Claim):
            return _refused(taken, event.event_id)
        return self._run(taken, event, follow_links=True)

    def _verify(
        self, provider: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[ProviderEvent, str]:
        """Check, in order: the call's shape, the size, the signature, the JSON's bounds, the
        provider's event shape, and then every normalized value's bounds
        (:func:`~tierline.billing.validation.validate_event`). Nothing is stored before."""
        if not isinstance(provider, str):
            raise WebhookRejected("unknown_provider", f"provider {bounds.shown(provider)}")
        if isinstance(body, bytearray | memoryview):
            body = bytes(body)
        if not isinstance(body, bytes):
            raise WebhookRejected(
                "malformed_json", f"the body is {type(body).__name__}; pass the raw bytes"
            )
        if not isinstance(headers, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in headers.items()
        ):
            raise WebhookRejected("missing_signature", "headers must map str names to str values")
        limit = self.ctx.settings.max_body_bytes
        if len(body) > limit:
            raise WebhookRejected(
                "body_too_large", f"webhook body is {len(body)} bytes; the limit is {limit}"
            )
        impl = self._provider(provider)
        # Verification decodes the body as strict UTF-8 JSON (no BOM, bounded depth:
        # signing.decode_json_object). Checked again here, whatever a provider module does,
        # so the text stored for replay always decodes the same way as on arrival.
        payload = impl.verify(headers, body)
        try:
            bounds.check_no_bom(body, field=f"{provider} webhook body")
            text = body.decode("utf-8")
        except (bounds.BoundsError, UnicodeDecodeError) as exc:
            raise WebhookRejected("malformed_json", str(exc)) from exc
        event = validate_event(impl.parse(payload))
        if event.provider != provider:
            raise WebhookRejected(
                "malformed_payload", f"the {provider} provider parsed a {event.provider} event"
            )
        return event, text

    def _provider(self, name: str) -> Provider:
        # Providers are stateless apart from settings and the clock: build each once.
        impl = self._providers.get(name)
        if impl is None:
            impl = get_provider(name, self.ctx.settings, clock=self.ctx.clock)
            self._providers[name] = impl
        return impl

    # -- applying ----------------------------------------------------------------------
    def _insert_and_apply(self, event: ProviderEvent, text: str) -> IngestResult:
        """A new event: insert its row (already processed) and apply it in ONE transaction.

        One commit per webhook. A duplicate delivered concurrently waits on the unique key and
        then finds the row (``_Exists``); a crash before the commit leaves nothing behind.
        """
        effect: Effect | None = None
        claim: Claim | None = None
        plan = self._applier.prepare(event)
        for attempt in range(1, _APPLY_TRIES + 1):
            now = self.ctx.clock()
            try:
                if plan is not None:
                    with self._flight_transaction() as conn:
                        claim, effect = self._insert_and_apply_in_one_flight(
                            conn, event, text, plan, now
                        )
                else:
                    with self._transaction() as conn:
                        claim = claims.insert_claim(
                            conn, **self._new_row(event, text, now), status=EventStatus.PROCESSED
                        )
                        if claim is None:
                            raise _Exists
                        effect = self._apply(conn, claim, now, event)
                break
            except _Exists:
                raise
            except _RETRIED as exc:
                # A racing insert of the same subscription or account, a deadlock, or a
                # connection the server dropped: the transaction rolled back and a fresh one
                # (on a fresh connection) will see the winner's row.
                if attempt == _APPLY_TRIES:
                    return self._fail_new(event, text, exc)
            except Exception as exc:
                return self._fail_new(event, text, exc)
        assert effect is not None and claim is not None
        return self._finish(claim, event, effect, follow_links=True)

    def _insert_and_apply_in_one_flight(
        self, conn: Connection, event: ProviderEvent, text: str, plan: Plan, now: datetime
    ) -> tuple[Claim, Effect]:
        """The event's row and its effect's statements sent together (see
        :meth:`EffectApplier.prepare`): one round trip on PostgreSQL, the transaction's BEGIN
        included (the first statements of a :meth:`_flight_transaction`), then the commit."""
        try:
            with flight(conn) as sent:
                row = claims.claim_row(
                    **self._new_row(event, text, now), status=EventStatus.PROCESSED
                )
                inserted = claims.send_insert_claim(sent, row, probe_unmapped=True)
                written = self._applier.send(
                    sent, event, plan, now, inserted, self.ctx.changes.notify_channel
                )
        except IntegrityError as exc:
            if claims.is_duplicate(exc):
                raise _Exists from exc
            raise
        claim = claims.inserted_claim(conn, inserted)
        effect = self._apply(
            conn, claim, now, event, flown=(plan, written), notified=written.notified()
        )
        return claim, effect

    def _new_row(self, event: ProviderEvent, text: str, now: datetime) -> dict[str, Any]:
        """The arguments of :func:`claims.insert_claim` for a new event's row."""
        return {
            "provider": event.provider,
            "external_id": event.event_id,
            "event_type": event.type,
            "occurred_at": event.occurred_at,
            "payload": text,
            "now": now,
            "lease": self.lease,
        }

    def _run(self, claim: Claim, event: ProviderEvent, *, follow_links: bool) -> IngestResult:
        """Apply ``event`` and mark ``claim`` (a taken-over row) in one transaction."""
        effect: Effect | None = None
        for attempt in range(1, _APPLY_TRIES + 1):
            now = self.ctx.clock()
            try:
                with self._transaction() as conn:
                    if not claims.mark(conn, claim, EventStatus.PROCESSED, now=now):
                        raise _LostClaim
                    effect = self._apply(conn, claim, now, event)
                break
            except _LostClaim:
                return IngestResult(
                    IngestOutcome.IN_FLIGHT,
                    "another delivery took this event over after our lease ran out",
                    event.event_id,
                    claim.row_id,
                )
            except _RETRIED as exc:
                if attempt == _APPLY_TRIES:
                    return self._fail(claim, event, exc)
            except Exception as exc:
                return self._fail(claim, event, exc)
        assert effect is not None
        return self._finish(claim, event, effect, follow_links=follow_links)

    def _apply(
        self,
        conn: Connection,
        claim: Claim,
        now: datetime,
        event: ProviderEvent,
        flown: tuple[Plan, Sent] | None = None,
        notified: frozenset[str] = frozenset(),
    ) -> Effect:
        """The effect, inside the caller's transaction, whose row is already marked processed
        (with ``flown``, the statements :meth:`EffectApplier.send` already sent)."""
        tx = ApplyTx(conn, flown)
        try:
            effect = self._applier.apply(tx, event, now)
            tx.flush()
        finally:
            tx.close()
        # Access hooks and cross-process invalidation (tierline.access.changes): written in
        # this transaction, delivered by _finish after the commit with the other outbox items.
        staged = self.ctx.changes.stage(conn, effect.accounts, notified=notified)
        effect.outbox.extend(staged.outbox)
        if effect.status is not EventStatus.PROCESSED:
            error = effect.detail if effect.status is EventStatus.UNMAPPED else None
            claims.restate(conn, claim, effect.status, now=now, error=error)
        elif effect.warning is not None:
            # Applied, but kept visible in `tierline events list` (an unmapped price...).
            claims.restate(conn, claim, effect.status, now=now, error=f"warning: {effect.warning}")
        return effect

    def _finish(
        self, claim: Claim, event: ProviderEvent, effect: Effect, *, follow_links: bool
    ) -> IngestResult:
        """After the commit: invalidate cached access, replay events a checkout unblocked."""
        for ref in effect.accounts:
            self.ctx.cache.invalidate(ref)
        if effect.outbox:
            # Provider calls the effect queued: try them now that they are committed. Best
            # effort, never raises, never changes this answer; the outbox worker retries.
            OutboxService(self.ctx).deliver_now(effect.outbox)
        detail = effect.detail
        if effect.warning is not None:
            logger.warning(
                "%s event %s applied with a warning: %s",
                event.provider,
                event.event_id,
                effect.warning,
            )
        if effect.status is EventStatus.UNMAPPED:
            logger.warning("unmapped %s event %s: %s", event.provider, event.event_id, detail)
        elif follow_links and (effect.linked_customer or effect.linked_subscription):
            replayed = self._replay_linked(
                event.provider, effect.linked_customer, effect.linked_subscription
            )
            if replayed:
                detail += f"; replayed {replayed} unmapped event(s) of this customer"
        return IngestResult(_OUTCOME_OF[effect.status], detail, event.event_id, claim.row_id)

    def _fail_new(self, event: ProviderEvent, text: str, exc: BaseException) -> IngestResult:
        """Record an apply error of a new event (its transaction left no row) and answer 500."""
        error = f"{type(exc).__name__}: {first_line(exc)}"
        with self._transaction() as conn:
            claim = claims.insert_claim(
                conn,
                **self._new_row(event, text, self.ctx.clock()),
                status=EventStatus.FAILED,
                error=error,
            )
        row_id = claim.row_id if claim is not None else None
        logger.error("failed to apply webhook event %s (row %s): %s", event.event_id, row_id, error)
        return IngestResult(IngestOutcome.FAILED, error, event.event_id, row_id)

    def _fail(self, claim: Claim, event: ProviderEvent | None, exc: BaseException) -> IngestResult:
        """Record an apply error on the event (keeping its attempts) and answer 500."""
        error = f"{type(exc).__name__}: {first_line(exc)}"
        with self._transaction() as conn:
            claims.mark(conn, claim, EventStatus.FAILED, now=self.ctx.clock(), error=error)
        event_id = event.event_id if event is not None else None
        logger.error("failed to apply webhook event %s (row %d): %s", event_id, claim.row_id, error)
        return IngestResult(IngestOutcome.FAILED, error, event_id, claim.row_id)

    # -- replaying ---------------------------------------------------------------------
    def replay(self, row_id: int) -> IngestResult:
        """Re-run a stored event (failed, unmapped, or abandoned by a crashed worker).

        The stored raw body is parsed again (its signature was checked on receipt). A final
        event answers ``DUPLICATE``; one held under a live lease ``IN_FLIGHT``. Raises
        :class:`NotFoundError` for an unknown id.
        """
        return self._replay(row_id, follow_links=True)

    def replay_all(self, status: EventStatus | str) -> list[IngestResult]:
        """Replay every ``failed`` or ``unmapped`` event, oldest first."""
        wanted = parse_status(status)
        if wanted not in (EventStatus.FAILED, EventStatus.UNMAPPED):
            raise ValidationError(
                f"only failed or unmapped events are replayed in bulk, not {wanted.value!r}"
            )
        with self.ctx.sessions() as session:
            ids = session.scalars(
                select(Event.id).where(Event.status == wanted.value).order_by(Event.id)
            ).all()
        return [self._replay(row_id, follow_links=True) for row_id in ids]

    def _replay(self, row_id: int, *, follow_links: bool) -> IngestResult:
        with self.ctx.sessions() as session:
            row = session.execute(
                select(Event.provider, Event.external_id, Event.payload).where(Event.id == row_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no webhook event with id {row_id}; see `tierline events list`")
        with self._transaction() as conn:
            taken = claims.take_over(conn, now=self.ctx.clock(), lease=self.lease, row_id=row_id)
        if not isinstance(taken, Claim):
            return _refused(taken, row.external_id)
        try:
            event = self._parse_stored(row.provider, row.payload, row.external_id)
        except Exception as exc:
            return self._fail(taken, None, exc)
        return self._run(taken, event, follow_links=follow_links)

    def _parse_stored(self, provider: str, payload: str, event_id: str) -> ProviderEvent:
        """A stored body parsed again, through the same decoding and bounds as on arrival."""
        decoded = decode_stored(payload, provider, event_id)
        return validate_event(self._provider(provider).parse(decoded))

    def _replay_linked(
        self, provider: str, customer_id: str | None, subscription_id: str | None
    ) -> int:
        """Replay the unmapped events a checkout (or a subscription's first snapshot) just made
        mappable: they arrived before it. Only events whose body names the customer or the
        subscription are parsed."""
        names = [
            Event.payload.contains(v, autoescape=True) for v in (customer_id, subscription_id) if v
        ]
        with self.ctx.sessions() as session:
            rows = session.execute(
                select(Event.id, Event.external_id, Event.payload)
                .where(
                    Event.status == EventStatus.UNMAPPED.value,
                    Event.provider == provider,
                    or_(*names),
                )
                .order_by(Event.id)
            ).all()
        replayed = 0
        for row in rows:
            try:
                event = self._parse_stored(provider, row.payload, row.external_id)
            except Exception:  # noqa: S112 - a stored event that no longer parses stays unmapped
                continue
            customer, subscription = customer_of(event), subscription_of(event)
            if (customer is not None and customer == customer_id) or (
                subscription is not None and subscription == subscription_id
            ):
                self._replay(row.id, follow_links=False)
                replayed += 1
        return replayed

    # -- synthetic events (reconciliation) ----------------------------------------------
    def ingest_synthetic(self, provider: str, payload: Mapping[str, object]) -> IngestResult:
        """Store and apply an event Tierline built itself, through the webhook path.

        ``payload`` is shaped like the provider's webhook (reconciliation wraps a subscription
        fetched from the provider's API in one); it is parsed by the provider's own parser,
        stored under its event id and applied exactly like a delivery, without a signature
        check (nothing was received). The same id again answers ``DUPLICATE``. Raises
        :class:`WebhookRejected` when the payload does not parse.
        """
        event = validate_event(self._provider(provider).parse(payload))
        text = json.dumps(payload, separators=(",", ":"))
        return self._store_and_apply(event, text)

    # -- reading -----------------------------------------------------------------------
    def list_events(
        self,
        status: EventStatus | str | None = None,
        provider: str | None = None,
        limit: int = 50,
    ) -> list[EventInfo]:
        """Stored events, newest first, optionally of one status and/or provider."""
        with self.ctx.sessions() as session:
            return list_events(session, status=status, provider=provider, limit=limit)

    def get_event(self, row_id: int) -> EventInfo:
        """One stored event with its raw payload; raises :class:`NotFoundError`."""
        with self.ctx.sessions() as session:
            return get_event(session, row_id)


def _refused(taken: Refused | None, event_id: str) -> IngestResult:
    if taken is not None and taken.status.is_final:
        return IngestResult(
            IngestOutcome.DUPLICATE,
            f"already {taken.status.value}: an earlier delivery handled it",
            event_id,
            taken.row_id,
        )
    # Held under a live lease (or gone between our two statements): the provider's retry
    # will find it handled, or free to take once the holder's lease runs out.
    return IngestResult(
        IngestOutcome.IN_FLIGHT,
        "another delivery is processing this event; retry later",
        event_id,
        None if taken is None else taken.row_id,
    )
