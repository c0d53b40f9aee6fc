"""Bounds on every value Tierline accepts from outside: text, integers, timestamps, JSON.

One module, used by the webhook inbox, the providers' payload reader, the CLI and the web
adapters, so a value is held to the same limits wherever it enters, and a value the database
would refuse (or store differently on SQLite, PostgreSQL and MariaDB) is refused before any
write, with a :class:`BoundsError` naming the field, the value and what is valid.

* Text: at most the column's size, valid Unicode for every dialect: no NUL (PostgreSQL refuses
  it in text) and no lone surrogate (``json.loads('"\\ud800"')`` makes one; no UTF-8 encoder
  accepts it). Identifiers (account refs) are also non-empty, without control characters and
  without leading or trailing whitespace (MariaDB's PAD SPACE collations would match
  ``"evt_1 "`` to ``"evt_1"``); provider-issued tokens (event, subscription and customer ids,
  event types) are visible ASCII only.
* Integers: within the column's range (:data:`INT32` for ``Integer`` columns).
* Timestamps: within :data:`EARLIEST` .. :data:`LATEST`, so date arithmetic on a stored value
  (a grace period, a credit extension) never overflows ``datetime``.
* JSON: nesting depth bounded *before* decoding (:func:`check_json_depth`), so a deeply nested
  body is refused without recursion; a UTF-8 byte order mark is refused (RFC 8259 section 8.1:
  senders "MUST NOT add a byte order mark"), so a stored body always decodes again on replay.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from itertools import accumulate

from tierline.errors import ValidationError

#: ``String(255)`` columns: external ids, customer ids, account refs, provider keys.
MAX_ID = 255
#: The inbox's ``type`` column.
MAX_EVENT_TYPE = 128
#: Provider names.
MAX_PROVIDER = 32
#: Email addresses (RFC 5321's path limit, the accounts column).
MAX_EMAIL = 320
#: Signed 32-bit ``Integer`` columns (quantity, attempts).
INT32 = (-(2**31), 2**31 - 1)
#: Signed 64-bit ``BigInteger`` columns, and the widest integer any value may hold.
INT64 = (-(2**63), 2**63 - 1)
#: The window every timestamp must fall in (inclusive start, exclusive end).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
#: Deepest JSON nesting accepted; providers' events nest about ten levels.
MAX_JSON_DEPTH = 64

_UTF8_BOM = b"\xef\xbb\xbf"
#: What text must not hold: NUL or a lone surrogate.
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
#: A provider-issued id or type: visible ASCII, no spaces.
TOKEN = re.compile("[!-~]+")
#: What an identifier must not hold: control characters or a lone surrogate.
# C0 and C1 controls, lone surrogates, and the invisible characters that make one id look like
# another or break a line: zero-width and directional marks, line and paragraph separators,
# bidirectional embeddings, overrides and isolates, word joiners, the byte order mark.
BAD_IDENTIFIER = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
# A JSON string (unrolled: no per-character alternation), to blank out before counting brackets.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Brackets become +1/-1 steps for accumulate(); every other byte is deleted first.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class BoundsError(ValidationError):
    """A value is outside what Tierline stores. ``field`` names it; the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def shown(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to about ``limit`` characters for error messages and logs."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_text(value: str, *, field: str, max_length: int, allow_empty: bool = True) -> str:
    """``value`` if it is a str of at most ``max_length`` characters without NUL or a lone
    surrogate (and non-empty unless ``allow_empty``); else :class:`BoundsError`."""
    if not isinstance(value, str):
        raise BoundsError(field, f"{field} is {shown(value)}, expected text")
    if not value and not allow_empty:
        raise BoundsError(field, f"{field} is empty; expected 1 to {max_length} characters")
    if len(value) > max_length:
        raise BoundsError(
            field,
            f"{field} {shown(value)} is {len(value)} characters; at most {max_length}",
        )
    if BAD_TEXT.search(value):
        raise BoundsError(
            field, f"{field} {shown(value)} holds a NUL or a lone surrogate; expected text"
        )
    return value


def check_identifier(value: str, *, field: str, max_length: int = MAX_ID) -> str:
    """``value`` if it is a usable id: 1 to ``max_length`` characters, no control characters
    or lone surrogates, no leading or trailing whitespace; else :class:`BoundsError`."""
    check_text(value, field=field, max_length=max_length, allow_empty=False)
    if BAD_IDENTIFIER.search(value):
        raise BoundsError(field, f"{field} {shown(value)} holds a control character")
    if value != value.strip():
        raise BoundsError(field, f"{field} {shown(value)} has leading or trailing whitespace")
    return value


def check_key(key: object) -> str:
    """An idempotency key (of a usage or a credit grant): 1 to 255 characters of text, without
    a control character (NUL included: PostgreSQL refuses it in text) or a lone surrogate (no
    driver encodes one), and without spaces around it: MariaDB's
    ``utf8mb4_bin`` pads with spaces when it compares, so ``"req "`` would be ``"req"`` there
    and another key on SQLite and PostgreSQL."""
    if (
        not isinstance(key, str)
        or not key.strip()
        or key != key.strip()
        or len(key) > MAX_ID
        or BAD_IDENTIFIER.search(key)
    ):
        raise BoundsError(
            "idempotency key",
            f"idempotency key {shown(key)} must be text of 1 to {MAX_ID} "
            "characters, without control characters or spaces around it",
        )
    return key


def check_token(value: str, *, field: str, max_length: int = MAX_ID) -> str:
    """``value`` if it is a provider-issued token (an event, subscription or customer id, an
    event type): 1 to ``max_length`` visible ASCII characters; else :class:`BoundsError`.

    Stripe, Paddle and the fake provider issue such ids only. Holding them to ASCII also keeps
    MariaDB's ``utf8mb4_general_ci`` unique keys (which equate many non-ASCII characters) from
    merging ids that SQLite and PostgreSQL keep apart.
    """
    check_text(value, field=field, max_length=max_length, allow_empty=False)
    if TOKEN.fullmatch(value) is None:
        raise BoundsError(
            field, f"{field} {shown(value)} is not an id: expected visible ASCII characters only"
        )
    return value


def check_int(value: int, *, field: str, minimum: int, maximum: int) -> int:
    """``value`` if it is an int (not a bool) in ``minimum..maximum``; else BoundsError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BoundsError(field, f"{field} is {shown(value)}, expected an integer")
    if not minimum <= value <= maximum:
        raise BoundsError(
            field, f"{field} {shown(value)} is out of range; expected {minimum} to {maximum}"
        )
    return value


def check_datetime(value: datetime, *, field: str) -> datetime:
    """``value`` if it is an aware datetime in :data:`EARLIEST` .. :data:`LATEST`."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise BoundsError(field, f"{field} is {shown(value)}, expected an aware datetime")
    # Compared as naive UTC: an aware comparison converts, which can overflow near year 1.
    offset = value.utcoffset()
    try:
        utc = value.replace(tzinfo=None) - offset if offset else value.replace(tzinfo=None)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST.replace(tzinfo=None) <= utc < LATEST.replace(tzinfo=None):
        raise BoundsError(field, f"{field} {value.isoformat()} is outside {_WINDOW}")
    return value.astimezone(UTC)


def datetime_from_unix(seconds: int | float, *, field: str) -> datetime:
    """Unix seconds as an aware UTC datetime in the window; never OverflowError/OSError."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise BoundsError(field, f"{field} is {shown(seconds)}, expected unix seconds")
    if not EARLIEST.timestamp() <= seconds < LATEST.timestamp():
        raise BoundsError(field, f"{field} {shown(seconds)} is outside {_WINDOW} (unix seconds)")
    return datetime.fromtimestamp(seconds, UTC)


def datetime_from_iso(text: str, *, field: str) -> datetime:
    """An RFC 3339 timestamp with a time zone, as an aware UTC datetime in the window."""
    if not isinstance(text, str) or len(text) > 64:
        raise BoundsError(field, f"{field} is {shown(text)}, expected an RFC 3339 timestamp")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BoundsError(field, f"{field} {shown(text)} is not an RFC 3339 timestamp") from exc
    if parsed.tzinfo is None:
        raise BoundsError(field, f"{field} {shown(text)} has no time zone")
    return check_datetime(parsed, field=field)


def check_json_depth(body: bytes, *, field: str = "body", limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit``, without decoding (so without recursion).

    Brackets inside strings do not count. Linear in the body's size and mostly in C: a body
    with at most ``limit`` opening brackets in all is accepted without scanning.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = max(accumulate(map(_STEP.__getitem__, brackets)), default=0)
    if depth > limit:
        raise BoundsError(field, f"{field} nests JSON {depth} levels deep; at most {limit}")


def check_no_bom(body: bytes, *, field: str = "body") -> None:
    """Refuse a body starting with a UTF-8 byte order mark (RFC 8259 section 8.1)."""
    if body.startswith(_UTF8_BOM):
        raise BoundsError(
            field, f"{field} starts with a UTF-8 byte order mark, which JSON senders must not add"
        )


_WINDOW = f"{EARLIEST:%Y-%m-%d} .. {LATEST:%Y-%m-%d}"
