"""Credit use cases: grant, revoke and list time-boxed paid access (being written)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tierline.context import Context


@dataclass(frozen=True)
class CreditInfo:
    """One credit grant as callers see it."""

    id: int
    account_ref: str
    starts_at: datetime
    expires_at: datetime
    reason: str | None
    granted_by: str | None
    revoked_at: datetime | None
    idempotency_key: str | None
    created_at: datetime


class CreditService:
    """Grant, revoke and list time-boxed credits."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
