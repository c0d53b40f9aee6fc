"""Accounts: the host's billable entities, created on first use by the host's own id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tierline.accounts.models import Account
from tierline.bounds import BAD_IDENTIFIER, shown
from tierline.context import Context
from tierline.errors import NotFoundError, ValidationError

MAX_REF_LENGTH = 255
MAX_EMAIL_LENGTH = 320

#: What a host may pass as an account ref: its own id, as it has it (``user.id``).
AccountRef: TypeAlias = str | int | UUID


@dataclass(frozen=True)
class AccountInfo:
    """An account as callers see it."""

    id: int
    ref: str
    email: str | None
    referral_code: str | None
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> AccountInfo:
        return cls(
            id=account.id,
            ref=account.ref,
            email=account.email,
            referral_code=account.referral_code,
            created_at=account.created_at,
        )


def canonical_ref(ref: object) -> str:
    """The one string an account ref is stored and looked up as.

    A ``str`` is kept as it is (case and all), an ``int`` becomes its decimal digits, a
    ``uuid.UUID`` its lowercase hyphenated form; so ``3`` and ``"3"`` name the same account.
    ``bool`` is not an id (``True`` would silently be account ``"True"``) and is refused, as is
    every other type. Validation of the string itself is :func:`clean_ref`'s.

    Raises:
        ValidationError: ``ref`` is not a str, int or UUID.
    """
    if type(ref) is str:  # the common case first: status() runs on every request
        return ref
    if isinstance(ref, str):
        return str.__str__(ref)
    if isinstance(ref, UUID):
        return str(ref)
    if isinstance(ref, int) and not isinstance(ref, bool):
        if ref.bit_length() > 4 * MAX_REF_LENGTH:  # str() of a huge int is slow, then refused
            raise ValidationError(
                f"account ref is a {ref.bit_length()}-bit integer; at most {MAX_REF_LENGTH} digits"
            )
        return str(int(ref))
    raise ValidationError(
        f"account ref {ref!r} is a {type(ref).__name__}; give the host's id as a str, int or "
        "uuid.UUID"
    )


def clean_ref(ref: object) -> str:
    """Normalise (:func:`canonical_ref`) and validate an account ref: the host's id, 1 to 255
    characters, no surrounding whitespace, no control character (NUL, which no database stores
    alike, included) and no unpaired surrogate: the rules of
    :func:`tierline.bounds.check_identifier`, which every provider payload's account ref
    passes, so an account created here can also be paid for.

    Raises:
        ValidationError: naming the bad ref and what is valid.
    """
    ref = canonical_ref(ref)
    if not ref.strip():
        raise ValidationError(f"account ref {shown(ref)} is empty; give the host app's own id")
    if ref != ref.strip():
        raise ValidationError(f"account ref {shown(ref)} has surrounding whitespace")
    if len(ref) > MAX_REF_LENGTH:
        raise ValidationError(
            f"account ref {shown(ref)} is {len(ref)} characters; at most {MAX_REF_LENGTH}"
        )
    if not ref.isprintable() and BAD_IDENTIFIER.search(ref):
        raise ValidationError(
            f"account ref {shown(ref)} contains a control character or an unpaired surrogate; "
            "give valid text"
        )
    return ref


def clean_email(email: str | None) -> str | None:
    """Validate an optional email address (shape only; the host verifies ownership)."""
    if email is None:
        return None
    email = email.strip()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > MAX_EMAIL_LENGTH:
        raise ValidationError(f"email {email!r} is not an email address like name@example.com")
    return email


def storable_ref(ref: str) -> bool:
    """Whether an account could have ``ref``: :func:`clean_ref` refuses to create one that is
    too long or holds a NUL or a lone surrogate, which PostgreSQL (NUL) or no driver (a lone
    surrogate) would take in a query, so looking one up is answered without the database."""
    return len(ref) <= MAX_REF_LENGTH and (ref.isprintable() or not BAD_IDENTIFIER.search(ref))


def lock_accounts(session: Session, *account_ids: int) -> None:
    """Lock these accounts' rows until ``session``'s transaction ends, in id order (so two
    transactions locking the same accounts never deadlock): what serializes the writes that
    read an account's state first (credit grants, referral attributions).

    SQLite has no ``FOR UPDATE``, and pysqlite runs a ``SELECT`` outside any transaction (it
    sends ``BEGIN`` before the first write only): there, a write that changes nothing begins
    the transaction and takes SQLite's write lock, so the reads after it see every commit made
    before. Reads meant to see the latest commit on MariaDB must be locking reads too
    (REPEATABLE READ answers a plain read from the transaction's first snapshot).
    """
    ids = sorted(set(account_ids))
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Account)
            .where(Account.id.in_(ids))
            .values(id=Account.id)
            .execution_options(synchronize_session=False)
        )
    else:
        session.execute(
            select(Account.id).where(Account.id.in_(ids)).order_by(Account.id).with_for_update()
        )


def find_account(session: Session, ref: str) -> Account | None:
    """The account with this ref, in ``session``, or ``None``."""
    if not storable_ref(ref):
        return None
    return session.scalars(select(Account).where(Account.ref == ref)).one_or_none()


def get_account(session: Session, ref: str) -> Account:
    """The account with this ref, in ``session``; raises :class:`NotFoundError`."""
    account = find_account(session, ref)
    if account is None:
        raise NotFoundError(
            f"no account with ref {ref!r}; create it first: `tierline accounts add {ref}`, or "
            "`ensure_account` in code"
        )
    return account


def ensure_account_in(session: Session, ref: str, email: str | None = None) -> Account:
    """Find or create the account inside the caller's transaction (flushes a new row)."""
    ref = clean_ref(ref)
    email = clean_email(email)
    account = find_account(session, ref)
    if account is None:
        account = Account(ref=ref, email=email)
        session.add(account)
        session.flush()
    elif email is not None and account.email != email:
        account.email = email
    return account


class AccountService:
    """Create and read accounts."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def ensure(self, ref: str, email: str | None = None) -> AccountInfo:
        """The account with ``ref``, created if missing; ``email`` updates it when given.

        Safe under concurrency: a racing creator's row wins and is returned.
        """
        ref = clean_ref(ref)
        email = clean_email(email)
        try:
            with self.ctx.sessions.begin() as session:
                return AccountInfo.of(ensure_account_in(session, ref, email))
        except IntegrityError:
            # Another transaction created it between our select and insert.
            with self.ctx.sessions.begin() as session:
                return AccountInfo.of(ensure_account_in(session, ref, email))

    def link_customer(self, ref: str, provider: str, customer_id: str) -> bool:
        """Link ``provider``'s customer ``customer_id`` to the account ``ref`` (created if
        missing); False when that link already existed.

        Webhooks of the customer that name no account then resolve to ``ref``. Raises
        :class:`ValidationError` for an unknown provider, a malformed customer id, or a
        customer already linked to another account.
        """
        from tierline.accounts.customers import clean_customer_id, link_customer
        from tierline.billing.providers import enabled_providers

        # The fake provider only while it is enabled (its webhooks are refused otherwise).
        known = enabled_providers(self.ctx.settings)
        if provider not in known:
            raise ValidationError(
                f"unknown billing provider {provider!r}; valid: {', '.join(known)}"
            )
        from tierline.accounts.queries import account_by_ref, insert_account

        ref = clean_ref(ref)
        clean_customer_id(customer_id)
        now = self.ctx.clock()
        # One transaction: a refused link creates no account either.
        with self.ctx.engine.begin() as conn:
            account = account_by_ref(conn, ref) or insert_account(conn, ref, now)
            return link_customer(
                conn,
                account_id=account.id,
                provider=provider,
                customer_id=customer_id,
                now=now,
            )

    def get(self, ref: str) -> AccountInfo:
        """The account with ``ref``; raises :class:`NotFoundError`."""
        with self.ctx.sessions() as session:
            return AccountInfo.of(get_account(session, ref))

    def list(self, *, limit: int = 100, offset: int = 0) -> list[AccountInfo]:
        """Accounts, oldest first."""
        with self.ctx.sessions() as session:
            rows = session.scalars(
                select(Account).order_by(Account.id).limit(limit).offset(offset)
            ).all()
            return [AccountInfo.of(row) for row in rows]
