"""Provider customers linked to accounts by an admin, scoped by provider.

``tierline accounts link REF --provider P --customer ID`` stores a link for a customer created
outside the app (in the provider's dashboard, by an import); webhooks of that customer that name
no account resolve to REF through :func:`linked_account_id`. The same customer id at two
providers is two different customers.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, bindparam, insert, select

from tierline.accounts.models import Account, AccountCustomer
from tierline.bounds import BAD_IDENTIFIER, shown
from tierline.errors import ValidationError

_LINK = cast(Table, AccountCustomer.__table__)
_ACCOUNT = cast(Table, Account.__table__)
_BY_CUSTOMER = select(_LINK.c.account_id).where(
    _LINK.c.provider == bindparam("p_provider"), _LINK.c.customer_id == bindparam("p_customer")
)
#: Longest customer id stored (the provider's ids are far shorter).
MAX_CUSTOMER_ID = 255


def clean_customer_id(customer_id: str) -> str:
    """Validate a provider customer id: 1 to 255 characters, no surrounding spaces, no control
    character (a webhook's customer id never holds one, so such a link could never match)."""
    if (
        not customer_id
        or customer_id != customer_id.strip()
        or len(customer_id) > MAX_CUSTOMER_ID
        or BAD_IDENTIFIER.search(customer_id)
    ):
        raise ValidationError(
            f"customer id {shown(customer_id)} must be 1 to {MAX_CUSTOMER_ID} characters without "
            "spaces around it or control characters (a Stripe cus_..., a Paddle ctm_...)"
        )
    return customer_id


def linked_account_id(conn: Connection, provider: str, customer_id: str) -> int | None:
    """The account an admin linked this provider customer to, or ``None``."""
    found = conn.execute(_BY_CUSTOMER, {"p_provider": provider, "p_customer": customer_id}).scalar()
    return None if found is None else int(found)


def linked_customers(conn: Connection, provider: str, account_id: int) -> list[str]:
    """The customer ids of ``provider`` linked to the account, oldest link first."""
    rows = conn.execute(
        select(_LINK.c.customer_id)
        .where(_LINK.c.provider == provider, _LINK.c.account_id == account_id)
        .order_by(_LINK.c.id)
    ).scalars()
    return [str(row) for row in rows]


def link_customer(
    conn: Connection, *, account_id: int, provider: str, customer_id: str, now: datetime
) -> bool:
    """Link the customer to the account; False if this exact link already existed.

    Raises :class:`ValidationError` when the customer id is empty or too long, or when the
    customer is already linked to another account (naming it).
    """
    clean_customer_id(customer_id)
    current = linked_account_id(conn, provider, customer_id)
    if current == account_id:
        return False
    if current is not None:
        other = conn.execute(select(_ACCOUNT.c.ref).where(_ACCOUNT.c.id == current)).scalar()
        raise ValidationError(
            f"{provider} customer {customer_id!r} is already linked to account {other!r}; "
            "a customer belongs to one account"
        )
    conn.execute(
        insert(_LINK).values(
            account_id=account_id, provider=provider, customer_id=customer_id, created_at=now
        )
    )
    return True
