"""What every service shares: settings, the engine and sessions, the clock, the access cache."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tierline.access.cache import TTLCache
from tierline.access.status import AccessStatus
from tierline.settings import TierlineSettings


@dataclass
class Context:
    """The shared state of one :class:`~tierline.Tierline` instance.

    Services take it in their constructor. A service that changes what an account may do calls
    ``cache.invalidate(account_ref)`` (or ``cache.clear()``) after its transaction commits.
    """

    settings: TierlineSettings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime]
    cache: TTLCache[AccessStatus]
