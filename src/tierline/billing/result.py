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


#: Reasons told to an anonymous caller as another: which secrets are configured is not theirs
#: to learn, so "no secret configured" looks like any failed signature from outside.
_PUBLIC_REASON = {"no_secret_configured": "bad_signature"}


@dataclass(frozen=True)
class IngestResult:
    """The outcome of one delivery, with the status code to answer the provider.

    ``detail`` is for the host and its logs (it may name settings and values); the HTTP answer
    is :meth:`response_body`, which carries a refusal's ``reason`` code only.
    """

    outcome: IngestOutcome
    detail: str = ""
    event_id: str | None = None
    #: The inbox row's id, when one was stored.
    row_id: int | None = None
    #: A rejected or failed delivery's machine-readable code (``bad_signature``,
    #: ``malformed_payload``, ``internal_error``...; see :class:`WebhookRejected`).
    reason: str | None = None

    @property
    def status_code(self) -> int:
        return HTTP_STATUS[self.outcome]

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome.value,
            "detail": self.detail,
            "event_id": self.event_id,
            "row_id": self.row_id,
            "reason": self.reason,
        }

    def response_body(self) -> dict[str, object]:
        """The JSON body to answer the provider's HTTP request with.

        A refusal (400) or failure (500) names its reason code only, in ``reason`` and
        ``detail`` (the details are logged); anything else is :meth:`to_dict`.
        """
        if self.outcome not in (IngestOutcome.REJECTED, IngestOutcome.FAILED):
            return self.to_dict()
        reason = self.reason or ("internal_error" if self.status_code >= 500 else "rejected")
        reason = _PUBLIC_REASON.get(reason, reason)
        return {
            "outcome": self.outcome.value,
            "detail": reason,
            "event_id": None,
            "row_id": None,
            "reason": reason,
        }
