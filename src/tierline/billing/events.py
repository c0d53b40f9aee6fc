"""Reading the inbox: stored events as small frozen values, for the CLI and the host app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tierline.billing.models import Event, EventStatus
from tierline.catalog.spec import KNOWN_PROVIDERS
from tierline.errors import NotFoundError, ValidationError

_STATUSES = ", ".join(status.value for status in EventStatus)
_LIST_COLUMNS = (
    Event.id,
    Event.provider,
    Event.external_id,
    Event.type,
    Event.status,
    Event.attempts,
    Event.last_error,
    Event.received_at,
    Event.processed_at,
    Event.occurred_at,
)

#: The most events one listing returns.
MAX_LIMIT = 1000


@dataclass(frozen=True)
class EventInfo:
    """One stored webhook event; ``payload`` (the raw body) only from :func:`get_event`."""

    id: int
    provider: str
    external_id: str
    type: str
    status: EventStatus
    attempts: int
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None
    occurred_at: datetime | None
    payload: str | None = None

    @classmethod
    def of(cls, row: Any, payload: str | None = None) -> EventInfo:
        return cls(
            id=row.id,
            provider=row.provider,
            external_id=row.external_id,
            type=row.type,
            status=EventStatus(row.status),
            attempts=row.attempts,
            last_error=row.last_error,
            received_at=row.received_at,
            processed_at=row.processed_at,
            occurred_at=row.occurred_at,
            payload=payload,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (timestamps as ISO 8601; no payload unless loaded)."""
        data: dict[str, Any] = {
            "id": self.id,
            "provider": self.provider,
            "external_id": self.external_id,
            "type": self.type,
            "status": self.status.value,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "received_at": _iso(self.received_at),
            "processed_at": _iso(self.processed_at),
            "occurred_at": _iso(self.occurred_at),
        }
        if self.payload is not None:
            data["payload"] = self.payload
        return data


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def parse_status(value: EventStatus | str) -> EventStatus:
    """An :class:`EventStatus` from its value; raises :class:`ValidationError` naming the valid."""
    try:
        return EventStatus(value)
    except ValueError as exc:
        raise ValidationError(f"unknown event status {value!r}; valid: {_STATUSES}") from exc


def list_events(
    session: Session,
    *,
    status: EventStatus | str | None = None,
    provider: str | None = None,
    limit: int = 50,
) -> list[EventInfo]:
    """The newest events first, optionally of one status and/or provider (no payloads).

    Raises :class:`ValidationError` for an unknown status or provider (a misspelt filter would
    otherwise list nothing, as if the inbox were empty) or a limit outside 1..``MAX_LIMIT``.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit {limit} is out of range; give 1 to {MAX_LIMIT}")
    if provider is not None and provider not in KNOWN_PROVIDERS:
        raise ValidationError(
            f"unknown provider {provider!r}; known providers: {', '.join(KNOWN_PROVIDERS)}"
        )
    query = select(*_LIST_COLUMNS).order_by(Event.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Event.status == parse_status(status).value)
    if provider is not None:
        query = query.where(Event.provider == provider)
    return [EventInfo.of(row) for row in session.execute(query)]


def get_event(session: Session, row_id: int) -> EventInfo:
    """One event with its payload; raises :class:`NotFoundError`."""
    row = session.execute(select(*_LIST_COLUMNS, Event.payload).where(Event.id == row_id)).first()
    if row is None:
        raise NotFoundError(f"no webhook event with id {row_id}; see `tierline events list`")
    return EventInfo.of(row, payload=row.payload)
