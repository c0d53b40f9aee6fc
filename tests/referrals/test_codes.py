"""Referral code drawing and normalisation."""

from __future__ import annotations

import pytest

from tierline.errors import ValidationError
from tierline.referrals.codes import ALPHABET, CODE_LENGTH, new_code, normalize_code


def test_alphabet_leaves_out_lookalikes() -> None:
    assert not set("0O1IL") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 31


def test_new_codes_use_the_alphabet_and_differ() -> None:
    codes = {new_code() for _ in range(500)}
    assert len(codes) == 500
    assert all(len(code) == CODE_LENGTH and set(code) <= set(ALPHABET) for code in codes)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("ABCD2345", "ABCD2345"),
        ("  abcd-2345 ", "ABCD2345"),
        ("ab cd 23 45", "ABCD2345"),
        ("A-B-C-D-2-3-4-5", "ABCD2345"),
    ],
)
def test_normalize(typed: str, code: str) -> None:
    assert normalize_code(typed) == code


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("ABCD234", "'ABCD234' is not valid (it has 7 characters)"),
        ("ABCD23456", "it has 9 characters"),
        ("", "it has 0 characters"),
        ("ABCD0O1I", "characters '01IO' are not used in codes"),
        ("ABCD_234", "characters '_' are not used"),
    ],
)
def test_normalize_rejects(typed: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        normalize_code(typed)
