"""The movable test clock; it ships in the package as :mod:`tierline.testing.clock`."""

from __future__ import annotations

from tierline.testing.clock import FrozenClock

__all__ = ["FrozenClock"]
