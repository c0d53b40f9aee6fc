"""The webhook validation layer: every normalized event is checked before any database write.

It runs after the signature check and the provider's ``parse``, for every provider alike: it
walks the :class:`~tierline.billing.providers.base.ProviderEvent` (its snapshot, items and
facts, whatever fields they grow) and holds each value to :mod:`tierline.bounds`:

* strings: valid Unicode without NUL, at most 255 characters (the id columns); the event id,
  subscription id, customer id and account ref are identifiers (non-empty, no control
  characters, no surrounding whitespace); the type at most 128, the provider at most 32;
* integers: quantities within the ``Integer`` column (0 .. 2**31-1), any other within 64 bits;
* datetimes: within 1970-01-01 .. 2200-01-01.

A violation raises :class:`WebhookRejected` ``malformed_payload`` naming the field, so the
inbox answers 400 and stores nothing, identically on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from tierline import bounds
from tierline.billing.providers.base import ProviderEvent, WebhookRejected

#: Fields held to stricter bounds than the default, by name wherever they appear.
_IDENTIFIERS = frozenset(
    {"event_id", "external_id", "customer_id", "account_ref", "subscription_id"}
)
_TEXT_LIMITS = {"type": bounds.MAX_EVENT_TYPE, "provider": bounds.MAX_PROVIDER}
_INT_LIMITS = {"quantity": (0, bounds.INT32[1])}
# Normalized events are shallow; anything deeper is a provider module's bug, refused early.
_MAX_DEPTH = 8


def validate_event(event: ProviderEvent) -> ProviderEvent:
    """``event`` if every value in it is storable; else ``WebhookRejected`` (malformed)."""
    try:
        bounds.check_identifier(event.event_id, field="event id")
        bounds.check_identifier(event.type, field="event type", max_length=bounds.MAX_EVENT_TYPE)
        _walk(event, event.provider, 0)
    except bounds.BoundsError as exc:
        raise WebhookRejected("malformed_payload", f"{event.provider} webhook: {exc}") from exc
    return event


def _walk(value: Any, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise bounds.BoundsError(path, f"{path} nests deeper than {_MAX_DEPTH} levels")
    name = path.rpartition(".")[2].partition("[")[0]
    if value is None or isinstance(value, bool | float):
        return
    if isinstance(value, str):
        if name in _IDENTIFIERS:
            bounds.check_identifier(value, field=path)
        else:
            limit = _TEXT_LIMITS.get(name, bounds.MAX_ID)
            bounds.check_text(value, field=path, max_length=limit)
    elif isinstance(value, int):
        low, high = _INT_LIMITS.get(name, bounds.INT64)
        bounds.check_int(value, field=path, minimum=low, maximum=high)
    elif isinstance(value, datetime):
        bounds.check_datetime(value, field=path)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            _walk(getattr(value, item.name), f"{path}.{item.name}", depth + 1)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _walk(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, Enum):
        return
    else:
        raise bounds.BoundsError(path, f"{path} is a {type(value).__name__}, not a plain value")
