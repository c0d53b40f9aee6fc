"""Magic-code sign-in: a one-time code per email, stored hashed, short-lived, few attempts.

A real app emails the code; this demo shows it on the page instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .db import LoginCode, User

CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_EMAIL_LENGTH = 320


class SignInError(Exception):
    """The email or code was refused; the message is shown to the person as it is."""


@dataclass(frozen=True)
class SignedIn:
    """The user a code signed in, and whether this sign-in created them."""

    user_id: int
    email: str
    created: bool


def clean_email(raw: str) -> str:
    """The email, trimmed and lower-cased; raises SignInError when it cannot be one."""
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > MAX_EMAIL_LENGTH:
        raise SignInError(f"{raw.strip()!r} is not an email address (expected name@example.com)")
    return email


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def issue_code(session: Session, email: str, now: datetime) -> str:
    """Create a new six-digit code for ``email`` (earlier unused codes stay valid until used)."""
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(
        LoginCode(
            email=email,
            code_hash=_hash(code),
            expires_at=now + CODE_LIFETIME,
            attempts=0,
            created_at=now,
        )
    )
    return code


def redeem_code(session: Session, email: str, code: str, now: datetime) -> SignedIn:
    """Check ``code`` for ``email``, use it up, and return the user (created on first sign-in).

    Raises SignInError for a wrong, expired or used-up code.
    """
    pending = session.scalars(
        select(LoginCode)
        .where(
            LoginCode.email == email,
            LoginCode.used_at.is_(None),
            LoginCode.expires_at > now,
            LoginCode.attempts < MAX_ATTEMPTS,
        )
        .order_by(LoginCode.id.desc())
    ).all()
    if not pending:
        raise SignInError("That code has expired or was already used; ask for a new one.")
    wanted = _hash(code.strip())
    match = next((row for row in pending if hmac.compare_digest(row.code_hash, wanted)), None)
    if match is None:
        # Count the failure on every live code, so guessing is bounded per code.
        session.execute(
            update(LoginCode)
            .where(LoginCode.id.in_([row.id for row in pending]))
            .values(attempts=LoginCode.attempts + 1)
        )
        raise SignInError("That code is not right; check it and try again.")
    # Conditional: of two concurrent requests with the same code, only one signs in.
    used = session.execute(
        update(LoginCode)
        .where(LoginCode.id == match.id, LoginCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 1) != 1:
        raise SignInError("That code was already used; ask for a new one.")
    user = session.scalar(select(User).where(User.email == email))
    created = user is None
    if user is None:
        user = User(email=email, created_at=now)
        session.add(user)
        session.flush()
    return SignedIn(user_id=user.id, email=user.email, created=created)
