"""Typed reads from a verified webhook payload, each failing as ``malformed_payload``.

A payload passed signature verification, so it came from the provider, but its shape is still
checked: a field of the wrong type becomes a clear :class:`WebhookRejected` naming the field,
never a ``KeyError`` or ``TypeError`` deep inside the inbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tierline import bounds
from tierline.billing.providers.base import WebhookRejected


@dataclass(frozen=True)
class PayloadReader:
    """Reads fields of one provider's payloads; errors name the provider and the field path."""

    provider: str

    def fail(self, path: str, value: object, expected: str) -> WebhookRejected:
        """The error for field ``path`` holding ``value`` instead of ``expected``."""
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return WebhookRejected(
            "malformed_payload",
            f"{self.provider} payload field {path!r} is {shown}, expected {expected}",
        )

    def obj(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        """A required nested object."""
        value = data.get(key)
        if not isinstance(value, Mapping):
            raise self.fail(path, value, "an object")
        return value

    def _present(
        self, data: Mapping[str, Any], key: str, path: str, kind: type, expected: str
    ) -> Any:
        """The value at ``key`` when it is of ``kind`` (a bool is no int here), else None when
        absent or null; anything else fails as ``expected``."""
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(path, value, expected)
        return value

    def opt_obj(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
        """An optional nested object (absent or null gives None)."""
        value: Mapping[str, Any] | None = self._present(
            data, key, path, Mapping, "an object or null"
        )
        return value

    def string(self, data: Mapping[str, Any], key: str, path: str) -> str:
        """A required non-empty string."""
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(path, value, "a non-empty string")
        return value

    def opt_string(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        """An optional string (absent, null or empty gives None)."""
        value = data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(path, value, "a string or null")
        return value

    def opt_int(self, data: Mapping[str, Any], key: str, path: str) -> int | None:
        """An optional integer (booleans are not integers here)."""
        value: int | None = self._present(data, key, path, int, "an integer or null")
        return value

    def flag(self, data: Mapping[str, Any], key: str, path: str) -> bool:
        """An optional boolean; absent or null is False."""
        return self._present(data, key, path, bool, "true or false") is True

    def objects(self, data: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
        """An optional list of objects (absent or null gives an empty list)."""
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self.fail(path, value, "a list of objects")
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise self.fail(f"{path}[{index}]", item, "an object")
        return list(value)

    def unix(self, data: Mapping[str, Any], key: str, path: str) -> datetime | None:
        """An optional unix-seconds timestamp, as an aware UTC datetime.

        Outside :data:`tierline.bounds.EARLIEST` .. :data:`~tierline.bounds.LATEST` it is
        malformed (never an ``OverflowError`` from ``datetime``).
        """
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, value, "unix seconds (an integer) or null")
        try:
            return bounds.datetime_from_unix(value, field=path)
        except bounds.BoundsError as exc:
            raise self.fail(path, value, f"unix seconds within {_WINDOW}") from exc

    def iso(self, data: Mapping[str, Any], key: str, path: str) -> datetime | None:
        """An optional RFC 3339 timestamp (Paddle's format), as an aware UTC datetime.

        It needs a time zone and must fall within :data:`tierline.bounds.EARLIEST` ..
        :data:`~tierline.bounds.LATEST` (year 1 or 9999 is malformed, not an overflow).
        """
        value = data.get(key)
        if value is None:
            return None
        try:
            return bounds.datetime_from_iso(value, field=path)
        except bounds.BoundsError as exc:
            raise self.fail(
                path, value, f"an RFC 3339 timestamp with a time zone within {_WINDOW}"
            ) from exc

    def ref(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        """An optional id sent as a string, or as the object itself when expanded (Stripe)."""
        value = data.get(key)
        if isinstance(value, Mapping):
            return self.string(value, "id", f"{path}.id")
        return self.opt_string(data, key, path)

    def digits(self, data: Mapping[str, Any], key: str, path: str) -> int | None:
        """An optional amount in minor units sent as a string of digits (Paddle's ``"2900"``)."""
        value = self.opt_string(data, key, path)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > 18:
            raise self.fail(path, value, "an amount in minor units (a string of digits)")
        return int(value)

    def opt_id(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        """An optional id sent as a string or an integer (Lemon Squeezy's numeric ids)."""
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.opt_string(data, key, path)

    def choice(
        self, data: Mapping[str, Any], key: str, path: str, choices: Mapping[str, Any]
    ) -> Any:
        """A required string that must be one of ``choices``' keys; returns its value."""
        raw = self.string(data, key, path)
        if raw not in choices:
            raise self.fail(path, raw, f"one of {', '.join(choices)}")
        return choices[raw]


_WINDOW = f"{bounds.EARLIEST:%Y-%m-%d}..{bounds.LATEST:%Y-%m-%d}"
