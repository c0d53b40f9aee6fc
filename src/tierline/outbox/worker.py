"""The outbox worker loop behind ``tierline outbox run``: bounded and stoppable."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tierline.errors import ValidationError
from tierline.outbox.models import OutboxStatus
from tierline.outbox.service import DEFAULT_BATCH, DeliveryOutcome, OutboxService

#: The longest wait between empty polls, in seconds (a day).
MAX_INTERVAL = 86_400.0


@dataclass
class WorkerReport:
    """What a worker run did."""

    outcomes: list[DeliveryOutcome] = field(default_factory=list)

    def count(self, status: OutboxStatus) -> int:
        """How many tries ended in ``status``."""
        return sum(1 for outcome in self.outcomes if outcome.status is status)


def run_worker(
    service: OutboxService,
    stop: threading.Event,
    *,
    once: bool = False,
    max_items: int | None = None,
    interval: float = 5.0,
    batch: int = DEFAULT_BATCH,
    on_outcome: Callable[[DeliveryOutcome], None] | None = None,
) -> WorkerReport:
    """Deliver due items until ``stop`` is set, ``max_items`` tries were made, or (``once``) none
    is due any more.

    Between empty polls the worker waits ``interval`` seconds on ``stop``, so setting it (a
    signal handler does) ends the wait at once; an item being tried is finished first.
    Several workers may run at once, in threads or processes (see :mod:`tierline.outbox.queue`).
    """
    if max_items is not None and max_items < 1:
        raise ValidationError(f"--max-items must be at least 1, not {max_items}")
    # Also refuses inf and nan: Event.wait() overflows past threading.TIMEOUT_MAX, and only
    # after a first delivery pass, when the bad value should have changed nothing.
    if not 0 <= interval <= MAX_INTERVAL:
        raise ValidationError(
            f"--interval must be from 0 to {MAX_INTERVAL:g} seconds, not {interval}"
        )
    if batch < 1:
        raise ValidationError(f"batch must be at least 1, not {batch}")
    report = WorkerReport()
    while not stop.is_set():
        room = batch if max_items is None else min(batch, max_items - len(report.outcomes))
        outcomes = service.deliver_due(limit=room)
        for outcome in outcomes:
            report.outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        if max_items is not None and len(report.outcomes) >= max_items:
            break
        if not outcomes:
            if once:
                break
            stop.wait(interval)
    return report
