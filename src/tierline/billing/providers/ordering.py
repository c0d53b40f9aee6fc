"""The lifecycle rank that orders two snapshots of one subscription with the same timestamp.

Providers timestamp their snapshots coarsely (Stripe's event ``created`` is whole seconds;
Paddle's ``updated_at`` has milliseconds, and still ties), so two snapshots of one subscription
often carry the same time. Tierline orders them by the provider timestamp first, then by
``SubscriptionSnapshot.rank`` (higher = later in the lifecycle). Every provider declares its
ranks in ONE :class:`LifecycleOrder` table; :meth:`LifecycleOrder.rank` combines them the same
way for all of them:

1. **Terminal statuses first**: a snapshot whose status is terminal for the provider (Stripe
   ``canceled`` / ``incomplete_expired``, Paddle ``canceled``) outranks every non-terminal one,
   so no snapshot of the same second reopens an ended subscription.
2. **Then the event type's rank**: a ``created`` snapshot is never newer than an ``updated`` one
   of the same second, whatever their statuses (a subscription created ``active`` and put in a
   trial a moment later is ``trialing``).
3. **Then the status's rank**, between snapshots of equal event rank: ``incomplete`` <
   ``trialing`` < ``active`` and its siblings, so an ``updated`` (incomplete) never follows an
   ``updated`` (active) of the same second.

An event type or status a table does not name ranks 0 in its column (the lowest): a newer
event type the provider adds can never overrule a known one on a tie.

The rank is one small integer: ``terminal * 10_000 + event_rank * 100 + status_rank``, with
each table's ranks in ``0..99`` (checked when the table is built).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from tierline.billing.models import SubscriptionStatus

#: Each table rank is below this; it is the base of the combined integer.
RANK_BASE = 100
#: Added to the rank of a snapshot in a terminal status.
TERMINAL_BAND = RANK_BASE * RANK_BASE


#: The status ranks every provider shares (a table may give its own): ``incomplete`` (0) <
#: ``trialing`` (1) < ``active``, ``past_due``, ``unpaid``, ``paused`` (2) < ``canceled``,
#: ``expired`` (3). A provider that never sends a status never meets its rank.
STATUS_RANKS: Mapping[SubscriptionStatus, int] = MappingProxyType(
    {
        SubscriptionStatus.INCOMPLETE: 0,
        SubscriptionStatus.TRIALING: 1,
        SubscriptionStatus.ACTIVE: 2,
        SubscriptionStatus.PAST_DUE: 2,
        SubscriptionStatus.UNPAID: 2,
        SubscriptionStatus.PAUSED: 2,
        SubscriptionStatus.CANCELED: 3,
        SubscriptionStatus.EXPIRED: 3,
    }
)
#: The statuses that end a subscription for good, unless a table names its own.
ENDED: frozenset[SubscriptionStatus] = frozenset(
    {SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED}
)


def event_ranks(*groups: tuple[str, ...]) -> dict[str, int]:
    """Event-type ranks from groups listed earliest first: each group's index is its rank."""
    return {event: rank for rank, group in enumerate(groups) for event in group}


@dataclass(frozen=True)
class LifecycleOrder:
    """One provider's ordering table: event-type ranks, status ranks, terminal statuses.

    ``events`` maps the provider's event type (``customer.subscription.created``...) to its
    rank; ``statuses`` maps a normalized status to its rank (default :data:`STATUS_RANKS`);
    ``terminal`` names the statuses that end a subscription for good (default :data:`ENDED`).
    Raises :class:`ValueError` when a rank is outside ``0..99``.
    """

    events: Mapping[str, int]
    statuses: Mapping[SubscriptionStatus, int] = field(default_factory=lambda: STATUS_RANKS)
    terminal: frozenset[SubscriptionStatus] = ENDED

    def __post_init__(self) -> None:
        for name, value in [*self.events.items(), *self.statuses.items()]:
            if not 0 <= value < RANK_BASE:
                raise ValueError(f"lifecycle rank of {name!r} is {value}; valid: 0..99")

    def rank(self, event_type: str, status: SubscriptionStatus) -> int:
        """The snapshot's rank: terminal band, then event rank, then status rank."""
        band = TERMINAL_BAND if status in self.terminal else 0
        return band + self.events.get(event_type, 0) * RANK_BASE + self.statuses.get(status, 0)
