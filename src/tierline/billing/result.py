"""What :meth:`Tierline.ingest` answers: an outcome and the HTTP status to send back."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IngestOutcome(StrEnum):
    """What happened to one delivered webhook."""

    PROCESSED = "processed"  # applied now
    DUPLICATE = "duplicate"  # already applied by an earlier delivery
    IN_FLIGHT = "in_flight"  # another delivery holds the claim right now
    IGNORED = "ignored"  # verified and stored, but a type Tierline does not act on
    UNMAPPED = "unmapped"  # kept for replay: names a tier key the catalog does not know
    REJECTED = "rejected"  # not verified or malformed: nothing stored
    FAILED = "failed"  # applying raised: recorded, answered 500 so the provider retries


#: The HTTP status each outcome is answered with. Unmapped events are kept and answered 200:
#: the provider's retries could not fix the catalog, ``tierline events replay`` can.
HTTP_STATUS: dict[IngestOutcome, int] = {
    IngestOutcome.PROCESSED: 200,
    IngestOutcome.DUPLICATE: 200,
    # Not 200: if the holder of the claim crashes, the provider's retry must find the event
    # again (its lease will have run out by then) instead of having been told "done".
    IngestOutcome.IN_FLIGHT: 409,
    IngestOutcome.IGNORED: 200,
    IngestOutcome.UNMAPPED: 200,
    IngestOutcome.REJECTED: 400,
    IngestOutcome.FAILED: 500,
}


@dataclass(frozen=True)
class IngestResult:
    """The outcome of one delivery, with the status code to answer the provider."""

    outcome: IngestOutcome
    detail: str = ""
    event_id: str | None = None
    #: The inbox row's id, when one was stored.
    row_id: int | None = None

    @property
    def status_code(self) -> int:
        return HTTP_STATUS[self.outcome]

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome.value,
            "detail": self.detail,
            "event_id": self.event_id,
            "row_id": self.row_id,
        }
