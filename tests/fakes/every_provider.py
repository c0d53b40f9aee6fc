"""Every provider's fake API at once, for tests that run one scenario per provider."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import pytest

from .lemonsqueezy_server import FakeLemonSqueezy, fake_lemonsqueezy
from .paddle_server import FakePaddle, fake_paddle
from .polar_server import FakePolar, fake_polar
from .stripe_server import FakeStripe, fake_stripe
from .whop_server import FakeWhop, fake_whop

#: The fixtures a module using :func:`fakes` must import too (pytest finds them there).
FIXTURES = ["fake_lemonsqueezy", "fake_paddle", "fake_polar", "fake_stripe", "fake_whop", "fakes"]


@dataclass
class Fakes:
    """The five fakes, each serving on its own port for one test."""

    stripe: FakeStripe
    paddle: FakePaddle
    polar: FakePolar
    whop: FakeWhop
    lemonsqueezy: FakeLemonSqueezy

    def settings(self) -> dict[str, Any]:
        """Tierline settings pointing every provider's API at its fake."""
        merged: dict[str, Any] = {}
        for item in fields(self):
            merged.update(getattr(self, item.name).settings())
        return merged


@pytest.fixture
def fakes(
    fake_stripe: FakeStripe,
    fake_paddle: FakePaddle,
    fake_polar: FakePolar,
    fake_whop: FakeWhop,
    fake_lemonsqueezy: FakeLemonSqueezy,
) -> Fakes:
    return Fakes(fake_stripe, fake_paddle, fake_polar, fake_whop, fake_lemonsqueezy)


__all__ = [
    "Fakes",
    "fake_lemonsqueezy",
    "fake_paddle",
    "fake_polar",
    "fake_stripe",
    "fake_whop",
    "fakes",
]
