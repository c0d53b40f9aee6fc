"""Teams and members, with the seat limit that comes from the team's Tierline tier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .db import Member, Team

MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 120


class TeamError(Exception):
    """A refused change; the message is shown to the person as it is."""

    status_code = 400


class SeatLimitError(TeamError):
    """Adding a member would use more seats than the team's tier has."""

    status_code = 409


@dataclass(frozen=True)
class Seats:
    """How many seats the team uses, and how many its tier gives."""

    used: int
    limit: int

    @property
    def free(self) -> int:
        return max(0, self.limit - self.used)


def clean_email(raw: str) -> str:
    """The email, trimmed and lower-cased; raises TeamError when it cannot be one."""
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > MAX_EMAIL_LENGTH:
        raise TeamError(f"{raw.strip()!r} is not an email address (expected name@example.com)")
    return email


def create_team(session: Session, name: str, owner_email: str, now: datetime) -> Team:
    """A new team with its owner as the first member."""
    clean_name = name.strip()
    if not clean_name or len(clean_name) > MAX_NAME_LENGTH:
        raise TeamError(f"a team name needs 1 to {MAX_NAME_LENGTH} characters, got {name!r}")
    team = Team(name=clean_name, created_at=now)
    team.members.append(Member(email=clean_email(owner_email), created_at=now))
    session.add(team)
    session.flush()
    return team


def seats_used(session: Session, team_id: int) -> int:
    """How many members the team has."""
    return session.scalar(select(func.count(Member.id)).where(Member.team_id == team_id)) or 0


def add_member(
    session: Session, team_id: int, email: str, *, seats: int, tier_name: str, now: datetime
) -> Member:
    """Add ``email`` to the team, refusing it when every seat of the tier is taken."""
    address = clean_email(email)
    # Lock the team row (PostgreSQL, MariaDB) so two concurrent adds cannot both take the
    # last seat; SQLite serializes writers, so the second one waits and then counts again.
    session.scalar(select(Team.id).where(Team.id == team_id).with_for_update())
    used = seats_used(session, team_id)
    taken = session.scalar(
        select(Member.id).where(Member.team_id == team_id, Member.email == address)
    )
    if taken is not None:
        raise TeamError(f"{address} is already on the team")
    if used >= seats:
        raise SeatLimitError(
            f"Your {tier_name} plan has {seats} seat{'' if seats == 1 else 's'} and "
            f"{used} {'is' if used == 1 else 'are'} taken: upgrade to add {address}, "
            "or remove a member first."
        )
    member = Member(team_id=team_id, email=address, created_at=now)
    session.add(member)
    session.flush()
    return member


def remove_member(session: Session, team_id: int, member_id: int) -> None:
    """Remove a member (freeing a seat); the team keeps at least one member."""
    member = session.get(Member, member_id)
    if member is None or member.team_id != team_id:
        raise TeamError(f"member {member_id} is not on this team")
    if seats_used(session, team_id) <= 1:
        raise TeamError("a team keeps at least one member")
    session.delete(member)
