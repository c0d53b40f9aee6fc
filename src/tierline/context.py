"""What every service shares: settings, the engine and sessions, the clock, the access cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tierline.access.cache import TTLCache
from tierline.access.status import AccessStatus
from tierline.settings import TierlineSettings

if TYPE_CHECKING:
    from tierline.access.changes import AccessChanges
    from tierline.outbox.background import BackgroundDelivery
    from tierline.outbox.deliverers import Deliverer


@dataclass
class Context:
    """The shared state of one :class:`~tierline.Tierline` instance.

    Services take it in their constructor. A service that changes what an account may do ends
    its transaction through ``changes`` (:mod:`tierline.access.changes`): ``stage`` before the
    commit, ``committed`` after it (which invalidates ``cache`` and runs the access hooks).
    """

    settings: TierlineSettings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime]
    cache: TTLCache[AccessStatus]
    #: Outbox deliverers of this instance only (the access hooks), tried before the registry.
    deliverers: dict[str, Deliverer] = field(default_factory=dict)
    changes: AccessChanges = field(init=False)
    #: The thread that delivers outbox items off the writer's thread (the access webhook),
    #: started with its first item and stopped by ``Tierline.close()``.
    background: BackgroundDelivery = field(init=False)

    def __post_init__(self) -> None:
        from tierline.access.changes import AccessChanges
        from tierline.outbox.background import BackgroundDelivery

        self.changes = AccessChanges(self)
        self.background = BackgroundDelivery(self._deliver_in_background)

    def _deliver_in_background(self, ids: Sequence[int]) -> None:
        from tierline.outbox.service import OutboxService

        OutboxService(self).deliver_in_background(ids)
