"""The webhook validation layer: every normalized event is checked before any database write.

It runs after the signature check and the provider's ``parse``, for every provider alike: it
walks the :class:`~tierline.billing.providers.base.ProviderEvent` (its snapshot, items and
facts, whatever fields they grow) and holds each value to :mod:`tierline.bounds`:

* strings: valid Unicode without NUL, at most 255 characters (the id columns); the event id,
  type, subscription id and customer id are the provider's tokens (visible ASCII), the
  account ref an identifier (non-empty, no control characters, no surrounding whitespace);
  the type at most 128 characters, the provider at most 32;
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

#: Fields held to stricter bounds than the default, by name wherever they appear: the
#: provider's ids and types are tokens (:func:`tierline.bounds.check_token`), the host's
#: account ref an identifier (:func:`tierline.bounds.check_identifier`).
_TOKEN_NAMES = frozenset({"event_id", "type", "external_id", "customer_id", "subscription_id"})
_IDENTIFIER_NAMES = frozenset({"account_ref"})
_TEXT_LIMITS = {"type": bounds.MAX_EVENT_TYPE, "provider": bounds.MAX_PROVIDER}
_INT_LIMITS = {"quantity": (0, bounds.INT32[1])}
# Normalized events are shallow; anything deeper is a provider module's bug, refused early.
_MAX_DEPTH = 8


def validate_event(event: ProviderEvent) -> ProviderEvent:
    """``event`` if every value in it is storable; else ``WebhookRejected`` (malformed)."""
    # A quick pass without paths on every delivery; the slow one only to name what is wrong.
    if _fine(event):
        return event
    try:
        _walk(event, str(event.provider), 0)
    except bounds.BoundsError as exc:
        raise WebhookRejected("malformed_payload", f"{event.provider} webhook: {exc}") from exc
    raise WebhookRejected("malformed_payload", f"{event.provider} webhook: a value is invalid")


def _fine(event: ProviderEvent) -> bool:
    """Whether every value in ``event`` passes its bound; no messages, no paths (fast)."""
    stack: list[tuple[Any, str, int]] = [(event, "", 0)]
    while stack:
        value, name, depth = stack.pop()
        if value is None or value is True or value is False:
            continue
        kind = type(value)
        if kind is str or (isinstance(value, str) and not isinstance(value, Enum)):
            if name in _TOKEN_NAMES:
                if (
                    len(value) > _TEXT_LIMITS.get(name, bounds.MAX_ID)
                    or bounds.TOKEN.fullmatch(value) is None
                ):
                    return False
            elif name in _IDENTIFIER_NAMES:
                if not (
                    0 < len(value) <= _TEXT_LIMITS.get(name, bounds.MAX_ID)
                    and value == value.strip()
                    and bounds.BAD_IDENTIFIER.search(value) is None
                ):
                    return False
            elif (
                len(value) > _TEXT_LIMITS.get(name, bounds.MAX_ID)
                or bounds.BAD_TEXT.search(value) is not None
            ):
                return False
        elif kind is int:
            low, high = _INT_LIMITS.get(name, bounds.INT64)
            if not low <= value <= high:
                return False
        elif kind is datetime:
            try:
                if value.tzinfo is None or not bounds.EARLIEST <= value < bounds.LATEST:
                    return False
            except OverflowError:
                return False
        elif kind is float or isinstance(value, Enum):
            continue
        elif depth >= _MAX_DEPTH:
            return False
        elif kind is tuple or kind is list:
            stack += [(item, name, depth + 1) for item in value]
        elif (names := _FIELD_NAMES.get(kind)) is not None:
            # A dataclass already met (known not to be a Mapping): no ABC check again.
            stack += [(getattr(value, field), field, depth + 1) for field in names]
        elif kind is dict or isinstance(value, Mapping):
            stack += [(item, str(key), depth + 1) for key, item in value.items()]
        else:
            names = _field_names(kind)
            if names is None:
                return False  # a set, an int subclass...: let the slow pass say what
            stack += [(getattr(value, field), field, depth + 1) for field in names]
    return True


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """A dataclass's field names (cached), or None for any other type."""
    if kind not in _FIELD_NAMES:
        fields = dataclasses.fields(kind) if dataclasses.is_dataclass(kind) else None
        _FIELD_NAMES[kind] = None if fields is None else tuple(item.name for item in fields)
    return _FIELD_NAMES[kind]


def _walk(value: Any, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise bounds.BoundsError(path, f"{path} nests deeper than {_MAX_DEPTH} levels")
    name = path.rpartition(".")[2].partition("[")[0]
    if value is None or isinstance(value, bool | float | Enum):
        return
    if isinstance(value, str):
        if name in _TOKEN_NAMES:
            limit = _TEXT_LIMITS.get(name, bounds.MAX_ID)
            bounds.check_token(value, field=path, max_length=limit)
        elif name in _IDENTIFIER_NAMES:
            limit = _TEXT_LIMITS.get(name, bounds.MAX_ID)
            bounds.check_identifier(value, field=path, max_length=limit)
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
    else:
        raise bounds.BoundsError(path, f"{path} is a {type(value).__name__}, not a plain value")
