"""Referral capture: ``?ref=CODE`` on any request is kept in a signed cookie until sign-up.

Capture validates nothing (the code may be unknown, or the visitor's own): a bad code is
reported when it is claimed, where the host can show the error, never to a visitor following
a link. The adapters set and clear the cookie; this module signs, reads and claims it.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import SimpleCookie

from itsdangerous import BadSignature, URLSafeTimedSerializer

from tierline.accounts.service import AccountRef
from tierline.facade import Tierline
from tierline.referrals.service import ReferralInfo
from tierline.settings import TierlineSettings
from tierline.web.common import signing_key

COOKIE_NAME = "tierline_ref"
QUERY_PARAM = "ref"
MAX_AGE_SECONDS = 30 * 24 * 3600
#: Longer values cannot be a code and would only bloat the cookie; they are not captured.
MAX_CAPTURED_LENGTH = 128


@dataclass(frozen=True)
class CookieSpec:
    """Everything an adapter needs to set the cookie (HttpOnly, SameSite=Lax, 30 days)."""

    name: str
    value: str
    max_age: int = MAX_AGE_SECONDS
    path: str = "/"
    httponly: bool = True
    samesite: str = "Lax"
    secure: bool = False


def _serializer(settings: TierlineSettings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_key(settings), salt="tierline.referral")


def captured_code(query_value: str | None) -> str | None:
    """The code to capture from a ``?ref=`` value, or ``None`` if there is nothing to keep."""
    if query_value is None:
        return None
    code = query_value.strip()
    if not code or len(code) > MAX_CAPTURED_LENGTH:
        return None
    return code


def cookie_for(settings: TierlineSettings, code: str) -> CookieSpec:
    """The signed cookie that remembers ``code``; Secure when the app is served over HTTPS."""
    return CookieSpec(
        name=COOKIE_NAME,
        value=_serializer(settings).dumps(code),
        secure=settings.public_url.startswith("https://"),
    )


def read_cookie(settings: TierlineSettings, value: str | None) -> str | None:
    """The code in a referral cookie, or ``None`` when absent, forged or older than 30 days."""
    if not value:
        return None
    try:
        code = _serializer(settings).loads(value, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    return code if isinstance(code, str) else None


def claim(
    tl: Tierline,
    account_ref: AccountRef,
    *,
    query_value: str | None,
    cookie_value: str | None,
) -> ReferralInfo | None:
    """Attribute ``account_ref`` to the captured code, if any; ``None`` when none was captured.

    A ``?ref=`` on the sign-up request itself wins over the cookie (it is the newer). Raises
    the :class:`~tierline.errors.TierlineError` of :meth:`Tierline.attribute_referral` (unknown
    code, self-referral, already referred) for the host to show. The adapters clear the cookie
    after every attempt, successful or not, so a bad code is reported once.
    """
    code = captured_code(query_value) or read_cookie(tl.settings, cookie_value)
    if code is None:
        return None
    return tl.attribute_referral(account_ref, code)


def set_cookie_header(spec: CookieSpec) -> str:
    """The ``Set-Cookie`` header value for ``spec`` (for adapters that write raw headers)."""
    morsel: SimpleCookie = SimpleCookie()
    morsel[spec.name] = spec.value
    attrs = morsel[spec.name]
    attrs["path"] = spec.path
    attrs["max-age"] = spec.max_age
    attrs["httponly"] = spec.httponly
    attrs["samesite"] = spec.samesite
    attrs["secure"] = spec.secure
    return attrs.OutputString()


def clear_cookie_header() -> str:
    """The ``Set-Cookie`` header value that deletes the referral cookie."""
    return (
        f"{COOKIE_NAME}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
        "HttpOnly; SameSite=Lax"
    )
