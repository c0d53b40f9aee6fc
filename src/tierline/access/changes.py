"""The one post-commit seam of every write that may change an account's access.

Every writer (webhooks through :mod:`tierline.billing.inbox`, credits, overrides, seats,
referral rewards, self-service actions, the exempt assignment) ends its transaction the same
way::

    staged = ctx.changes.stage(conn, refs)   # inside the transaction, after its writes
    ...                                      # commit
    ctx.changes.committed(staged)            # after the commit

``stage`` does, in the writer's transaction:

* only when something listens (a hook registered with :meth:`AccessChanges.on_change`, or the
  ``access_webhook_url`` setting): for each account, its access as last committed (read on
  another connection, which does not see the open transaction) and as the transaction leaves
  it (read on the transaction's own connection); when they differ, one outbox item per
  listener kind (:data:`ACCESS_HOOK`, :data:`ACCESS_WEBHOOK`), so the hook exists exactly when
  the change does and a rolled-back write calls nothing. With nothing listening it costs no
  query at all.
* on PostgreSQL with ``cache_notify`` on: ``pg_notify('tierline_access', ref)``, which the
  server delivers at commit to every process's listener (:mod:`tierline.access.listen`).

``committed`` invalidates this process's cached status of the accounts and delivers the outbox
items (:meth:`~tierline.outbox.service.OutboxService.deliver_now`): the hooks at once, on the
writer's thread; the webhook POST on the instance's background thread
(:mod:`tierline.outbox.background`), so a slow receiver never holds the writer. A hook that
raises is logged and its item retried with backoff by ``tl.outbox.deliver_due()`` /
``run_worker`` (it never undoes the write), visible as ``failed`` then ``dead`` in
``tierline outbox list``.

Who hears what: hooks are registered on one Tierline object, so they fire only for writes made
through a Tierline object of *that process* (a write made elsewhere, such as
``tierline grant-credit`` or ``tierline reconcile --apply`` run from a shell, writes no
:data:`ACCESS_HOOK` item, since that process has no hook). An :data:`ACCESS_WEBHOOK` item is
written by any process whose settings have ``access_webhook_url``, and delivered by the writer
or any worker: the process delivering needs the URL and the secret, else the try fails with a
:class:`~tierline.errors.ConfigurationError`.

"Changed" compares what the host acts on: ``active``, ``source``, ``tier``, ``reason``,
``features``, ``limits``, ``seats`` and their sources. A renewal that only moves
``expires_at`` is not a change; neither is a seat assignment (the seat *limit* is
``status().seats``: a quantity change is).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from tierline.access.status import AccessSource, AccessStatus, DenialReason, LimitInfo
from tierline.outbox.deliverers import Delivery
from tierline.outbox.queue import enqueue

if TYPE_CHECKING:
    from tierline.context import Context

logger = logging.getLogger("tierline.access")

#: Outbox kind of the in-process hooks (delivered only by a process that registered hooks).
ACCESS_HOOK = "access.hook"
#: Outbox kind of the signed POST to ``access_webhook_url`` (any process delivers it).
ACCESS_WEBHOOK = "access.webhook"
#: The PostgreSQL channel of cache invalidations; a payload of ``*`` clears every entry.
NOTIFY_CHANNEL = "tierline_access"
EVERYTHING = "*"

#: ``hook(account_ref, old, new)``, called after the commit of a write that changed access.
AccessHook = Callable[[str, AccessStatus, AccessStatus], None]
#: Reads an account's access on a connection (the transaction's own, or None: committed).
StatusReader = Callable[[Connection | None, str, datetime], AccessStatus]


@dataclass(frozen=True)
class Staged:
    """What a transaction staged: the accounts it touched and the outbox items it wrote."""

    refs: frozenset[str]
    outbox: tuple[int, ...] = ()
    #: Every cached status is stale (a catalog or override change): clear, not invalidate.
    everything: bool = False


NOTHING = Staged(frozenset())


def access_differs(old: AccessStatus, new: AccessStatus) -> bool:
    """Whether the change from ``old`` to ``new`` is one the host acts on (module docstring)."""
    return _essence(old) != _essence(new)


def _essence(status: AccessStatus) -> tuple[object, ...]:
    return (
        status.active,
        status.source,
        status.tier,
        status.reason,
        status.features,
        status.limits,
        status.seats,
        status.feature_sources,
        status.limit_sources,
    )


def status_from_dict(data: Mapping[str, Any]) -> AccessStatus:
    """The :class:`AccessStatus` that :meth:`AccessStatus.to_dict` gave ``data`` for."""
    expires = data.get("expires_at")
    reason = data.get("reason")
    return AccessStatus(
        account_ref=str(data["account_ref"]),
        active=bool(data["active"]),
        source=AccessSource(data["source"]),
        tier=data.get("tier"),
        expires_at=datetime.fromisoformat(expires) if expires else None,
        days_remaining=data.get("days_remaining"),
        reason=DenialReason(reason) if reason else None,
        features=frozenset(data.get("features", ())),
        limits={
            key: LimitInfo(key, int(info["limit"]), str(info["period"]))
            for key, info in dict(data.get("limits", {})).items()
        },
        seats=int(data.get("seats", 1)),
        feature_sources=dict(data.get("feature_sources", {})),
        limit_sources=dict(data.get("limit_sources", {})),
    )


class AccessChanges:
    """The seam (module docstring) of one :class:`~tierline.Tierline` instance: ``ctx.changes``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.hooks: list[AccessHook] = []
        #: Installed by the facade: reads access on a connection (None: as committed).
        self.reader: StatusReader | None = None

    # -- registering -------------------------------------------------------------------
    def on_change(self, hook: AccessHook) -> AccessHook:
        """Call ``hook(account_ref, old, new)`` after each commit that changes access.

        Returns ``hook`` (usable as a decorator). Raises ``TypeError`` when it is not callable.
        """
        if not callable(hook):
            raise TypeError(f"an access-change hook must be callable, not {type(hook).__name__}")
        self.hooks.append(hook)
        self.ctx.deliverers[ACCESS_HOOK] = self._deliver_hooks
        return hook

    @property
    def watching(self) -> bool:
        """Whether a write must compare access before and after (someone listens)."""
        return self.reader is not None and bool(self.hooks or self.ctx.settings.access_webhook_url)

    @property
    def notifying(self) -> bool:
        """Whether writes publish cache invalidations (PostgreSQL with ``cache_notify``)."""
        return self.ctx.settings.cache_notify and self.ctx.engine.dialect.name == "postgresql"

    # -- the seam ----------------------------------------------------------------------
    @property
    def notify_channel(self) -> str | None:
        """The channel a writer's own statement may NOTIFY on (:data:`NOTIFY_CHANNEL`), or
        ``None`` when writes publish no invalidations; :meth:`stage` is told which refs it
        already notified."""
        return NOTIFY_CHANNEL if self.notifying else None

    def stage(
        self,
        conn: Connection,
        refs: Iterable[str],
        *,
        everything: bool = False,
        notified: frozenset[str] = frozenset(),
    ) -> Staged:
        """Inside the writer's transaction, after its writes (a Session flushed first): write
        the outbox items of the accounts whose access changed, and the NOTIFY (module
        docstring) of those not already in ``notified`` (see :attr:`notify_channel`).
        ``everything``: every cached status is stale (catalog, overrides)."""
        refs = frozenset(refs)
        if not refs and not everything:
            return NOTHING
        outbox: list[int] = []
        if refs and self.watching:
            assert self.reader is not None
            now = self.ctx.clock()
            for ref in sorted(refs):
                old = self.reader(None, ref, now)
                new = self.reader(conn, ref, now)
                if access_differs(old, new):
                    outbox.extend(self._enqueue(conn, ref, old, new, now))
        payloads = [EVERYTHING] if everything else sorted(refs - notified)
        if self.notifying and payloads:
            conn.execute(
                text("SELECT pg_notify(:channel, ref) FROM unnest(CAST(:refs AS text[])) AS ref"),
                {"channel": NOTIFY_CHANNEL, "refs": payloads},
            )
        return Staged(refs, tuple(outbox), everything)

    def committed(self, staged: Staged) -> None:
        """After the commit: drop this process's cached access, deliver the staged items now.

        Never raises for a failing hook or receiver (the outbox logs and retries it)."""
        cache = self.ctx.cache
        if staged.everything:
            cache.clear()
        else:
            for ref in staged.refs:
                cache.invalidate(ref)
        if staged.outbox:
            from tierline.outbox.service import OutboxService

            OutboxService(self.ctx).deliver_now(staged.outbox)

    @contextmanager
    def writing(self, *refs: str, everything: bool = False) -> Iterator[Session]:
        """A session in a transaction whose commit is staged and followed by :meth:`committed`:
        ``with ctx.changes.writing(ref) as session: ...``. More accounts can be added with
        :meth:`touch` on the yielded session."""
        staged = NOTHING
        with self.ctx.sessions.begin() as session:
            session.info["tierline_refs"] = set(refs)
            yield session
            session.flush()
            staged = self.stage(
                session.connection(), session.info["tierline_refs"], everything=everything
            )
        self.committed(staged)

    @staticmethod
    def touch(session: Session, *refs: str) -> None:
        """Add accounts to the transaction of :meth:`writing` (found inside it)."""
        session.info.setdefault("tierline_refs", set()).update(refs)

    # -- delivering --------------------------------------------------------------------
    def _enqueue(
        self, conn: Connection, ref: str, old: AccessStatus, new: AccessStatus, now: datetime
    ) -> list[int]:
        payload = {
            "account": ref,
            "old": old.to_dict(),
            "new": new.to_dict(),
            "occurred_at": now.isoformat(),
        }
        kinds = []
        if self.hooks:
            kinds.append(ACCESS_HOOK)
        if self.ctx.settings.access_webhook_url:
            kinds.append(ACCESS_WEBHOOK)
        change = uuid.uuid4().hex
        return [
            enqueue(conn, kind, payload, idempotency_key=f"tierline-{kind}-{change}", now=now)
            for kind in kinds
        ]

    def _deliver_hooks(self, delivery: Delivery) -> None:
        """The deliverer of :data:`ACCESS_HOOK` items in this process: every hook, in order.

        A hook that raises fails the try (the outbox retries the item, calling every hook again:
        hooks should be idempotent, keyed on ``delivery``'s item if they need to be)."""
        payload = delivery.payload
        old = status_from_dict(payload["old"])
        new = status_from_dict(payload["new"])
        for hook in list(self.hooks):
            hook(str(payload["account"]), old, new)
