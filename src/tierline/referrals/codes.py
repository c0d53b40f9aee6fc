"""Referral codes: 8 characters a person can read aloud and type without confusion."""

from __future__ import annotations

import secrets

from tierline.errors import ValidationError

#: No 0/O, 1/I/L: the characters people mistake for each other.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
_VALID = frozenset(ALPHABET)


def new_code() -> str:
    """A random code (about 40 bits from :mod:`secrets`)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """The canonical form of a typed code: trimmed, upper case, spaces and dashes removed.

    Raises:
        ValidationError: the result is not 8 characters of :data:`ALPHABET`.
    """
    if not isinstance(text, str):
        raise ValidationError(f"referral code {text!r} is not text")
    code = text.strip().upper().replace(" ", "").replace("-", "")
    bad = sorted({char for char in code if char not in _VALID})
    if len(code) != CODE_LENGTH or bad:
        detail = (
            f"characters {''.join(bad)!r} are not used in codes"
            if bad
            else (f"it has {len(code)} characters")
        )
        raise ValidationError(
            f"referral code {text!r} is not valid ({detail}): codes are {CODE_LENGTH} "
            f"characters from {ALPHABET}"
        )
    return code
