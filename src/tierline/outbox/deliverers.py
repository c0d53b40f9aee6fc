"""The registry of deliverers: one function per outbox item kind.

A deliverer makes the call an item stands for and returns normally when the provider accepted
it; any exception is a failed try (retried with backoff, ``dead`` after the last). It receives
the item's idempotency key and must pass it to the provider, so a try whose answer was lost
takes effect once. Kinds are registered once per process, like the billing providers:

    register_deliverer("host.hook", deliver_hook)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tierline.errors import ValidationError
from tierline.settings import TierlineSettings

#: Longest kind name the outbox table stores.
MAX_KIND_LENGTH = 64


@dataclass(frozen=True)
class Delivery:
    """One try of one item, as its deliverer sees it."""

    item_id: int
    kind: str
    payload: Mapping[str, Any]
    #: The item's stable key: pass it to the provider (Stripe ``Idempotency-Key``...).
    idempotency_key: str
    #: Which try this is, from 1.
    attempt: int
    settings: TierlineSettings


Deliverer = Callable[[Delivery], None]

_DELIVERERS: dict[str, Deliverer] = {}
_builtins_loaded = False


def register_deliverer(kind: str, deliverer: Deliverer) -> None:
    """Deliver items of ``kind`` with ``deliverer`` (replacing an earlier registration)."""
    if not kind or len(kind) > MAX_KIND_LENGTH or kind != kind.strip():
        raise ValidationError(
            f"outbox kind {kind!r} must be 1 to {MAX_KIND_LENGTH} characters without spaces "
            "around it"
        )
    _DELIVERERS[kind] = deliverer


def get_deliverer(kind: str) -> Deliverer | None:
    """The deliverer of ``kind``, or None when none is registered in this process."""
    _load_builtins()
    return _DELIVERERS.get(kind)


def known_kinds() -> tuple[str, ...]:
    """Every registered kind, sorted."""
    _load_builtins()
    return tuple(sorted(_DELIVERERS))


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    # Imported late: the built-in deliverers live with the provider they call. A kind the
    # host registered before keeps the host's deliverer.
    from tierline.access.changes import ACCESS_WEBHOOK
    from tierline.access.webhook import deliver_access_webhook
    from tierline.billing.outbox_calls import BUILTIN_DELIVERERS

    for kind, deliverer in {**BUILTIN_DELIVERERS, ACCESS_WEBHOOK: deliver_access_webhook}.items():
        _DELIVERERS.setdefault(kind, deliverer)
