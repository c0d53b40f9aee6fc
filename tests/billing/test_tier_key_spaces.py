"""A tier key with a space after it names no tier on any dialect: MariaDB's ``utf8mb4_bin``
pads when it compares, so ``'legacy '`` found ``'legacy'`` there and nothing elsewhere."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tierline import Tierline
from tierline.billing.checkout import resolve_target
from tierline.catalog.spec import Catalog, TierSpec
from tierline.errors import NotFoundError

CATALOG = Catalog(
    tiers={
        "free": TierSpec(key="free", name="Free", exempt=True),
        "pro": TierSpec(key="pro", name="Pro", sort_order=1, providers={"fake": ("pro",)}),
        "legacy": TierSpec(
            key="legacy",
            name="Legacy",
            sort_order=2,
            customer_facing=False,
            providers={"fake": ("legacy",)},
        ),
    },
    free_tier="free",
)


@pytest.mark.parametrize("key", ["pro ", "legacy ", " pro"])
@pytest.mark.parametrize("offered", [False, True])
def test_a_tier_key_with_a_trailing_space_is_no_tier_on_any_dialect(
    make_tierline: Callable[..., Tierline], key: str, offered: bool
) -> None:
    tl = make_tierline(CATALOG)
    tl.sync_catalog()
    with tl.ctx.sessions() as session, pytest.raises(NotFoundError, match="does not exist"):
        resolve_target(session, key, "fake", offered=offered)
