"""``tierline.bounds``: the limits every value from outside is held to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tierline import bounds
from tierline.billing.providers.base import WebhookRejected
from tierline.billing.providers.fields import PayloadReader
from tierline.errors import ValidationError


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "is empty"),
        ("x" * 256, "is 256 characters; at most 255"),
        ("a\x00b", "NUL or a lone surrogate"),
        ("a\ud800", "NUL or a lone surrogate"),
        ("a\tb", "control character"),
        ("a\x85b", "control character"),  # C1 control (NEL)
        ("\u200b", "control character"),  # zero-width space: a ref that looks empty
        ("a\u202eb", "control character"),  # right-to-left override: looks like another id
        ("a\u2028b", "control character"),  # line separator: breaks a listing
        ("a\ufeffb", "control character"),
        (" a", "leading or trailing whitespace"),
        ("a ", "leading or trailing whitespace"),
        (7, "expected text"),
    ],
)
def test_identifiers_refuse_what_a_column_would_not_keep(value: object, fragment: str) -> None:
    with pytest.raises(bounds.BoundsError, match=fragment) as info:
        bounds.check_identifier(value, field="subscription id")  # type: ignore[arg-type]
    assert info.value.field == "subscription id"
    assert isinstance(info.value, ValidationError)  # the CLI's one-line error boundary


def test_identifiers_and_text_accept_what_they_should() -> None:
    assert bounds.check_identifier("sub_1RLm9b 😀 é", field="id") == "sub_1RLm9b 😀 é"
    assert bounds.check_identifier("x" * 255, field="id") == "x" * 255
    assert bounds.check_text("", field="note", max_length=10) == ""
    assert bounds.check_text("tab\there", field="note", max_length=10) == "tab\there"
    with pytest.raises(bounds.BoundsError, match="is empty"):
        bounds.check_text("", field="note", max_length=10, allow_empty=False)


def test_provider_tokens_are_visible_ascii() -> None:
    assert bounds.check_token("sub_1RLm9bHx4Yq2ZpW3kT6vN8cD", field="id") == (
        "sub_1RLm9bHx4Yq2ZpW3kT6vN8cD"
    )
    for bad in ("sub_é", "sub 1", "sub_😀", "", "x" * 256, "a\x00"):
        with pytest.raises(bounds.BoundsError, match="id"):
            bounds.check_token(bad, field="id")


def test_integers_stay_within_the_range_given() -> None:
    assert bounds.check_int(2**31 - 1, field="quantity", minimum=0, maximum=bounds.INT32[1])
    for bad in (2**31, -1, True, 1.5):
        with pytest.raises(bounds.BoundsError, match="quantity"):
            bounds.check_int(bad, field="quantity", minimum=0, maximum=bounds.INT32[1])  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [-1, 10**20, 7258118400, float("nan"), float("inf"), True])
def test_unix_seconds_outside_the_window_never_overflow(seconds: float) -> None:
    with pytest.raises(bounds.BoundsError, match="created"):
        bounds.datetime_from_unix(seconds, field="created")


def test_unix_seconds_inside_the_window() -> None:
    assert bounds.datetime_from_unix(0, field="t") == bounds.EARLIEST
    assert bounds.datetime_from_unix(7258118399, field="t") == datetime(
        2199, 12, 31, 23, 59, 59, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59.999999-01:00",
        "9999-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "2026-06-01T12:00:00",  # no time zone
        "tomorrow",
        "2026-06-01T12:00:00Z" + " " * 100,
    ],
)
def test_rfc3339_timestamps_outside_the_window_are_refused(text: str) -> None:
    with pytest.raises(bounds.BoundsError):
        bounds.datetime_from_iso(text, field="occurred_at")


def test_aware_datetimes_are_converted_to_utc() -> None:
    plus_two = datetime(2026, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert bounds.check_datetime(plus_two, field="t") == datetime(2026, 6, 1, 12, tzinfo=UTC)
    with pytest.raises(bounds.BoundsError, match="aware"):
        bounds.check_datetime(datetime(2026, 6, 1), field="t")


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [[{"b": 1}]]}', 4),
        (b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 1),
        (b'{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 1),
    ],
)
def test_depth_counts_brackets_outside_strings(body: bytes, depth: int) -> None:
    bounds.check_json_depth(body, limit=depth)
    if body.count(b"[") + body.count(b"{") > depth - 1 and depth > 1:
        with pytest.raises(bounds.BoundsError, match=f"{depth} levels deep"):
            bounds.check_json_depth(body, limit=depth - 1)


def test_a_million_brackets_are_refused_without_recursion() -> None:
    body = b"[" * 1_000_000 + b"]" * 1_000_000
    with pytest.raises(bounds.BoundsError, match="1000000 levels deep; at most 64"):
        bounds.check_json_depth(body)


def test_a_byte_order_mark_is_refused() -> None:
    with pytest.raises(bounds.BoundsError, match="byte order mark"):
        bounds.check_no_bom(b"\xef\xbb\xbf{}")
    bounds.check_no_bom(b"{}")


def test_the_payload_reader_turns_bounds_into_malformed_payload() -> None:
    read = PayloadReader("stripe")
    for value in (10**20, -5):
        with pytest.raises(WebhookRejected, match=r"'data\.object\.cancel_at'") as info:
            read.unix({"cancel_at": value}, "cancel_at", "data.object.cancel_at")
        assert info.value.reason == "malformed_payload"
    with pytest.raises(WebhookRejected, match=r"within 1970-01-01\.\.2200-01-01") as info:
        PayloadReader("paddle").iso({"at": "0001-01-01T00:00:00Z"}, "at", "data.updated_at")
    assert info.value.reason == "malformed_payload"
