"""What every provider's item parsing shares: an item's catalog keys, in the order to try them."""

from __future__ import annotations


def item_keys(*candidates: str | None) -> tuple[str, ...]:
    """The candidate keys that are present, first occurrence kept, in the given order.

    A provider lists its keys most specific first (a Stripe price ``lookup_key`` before the
    price id and the product id; a Paddle price's ``custom_data`` tier before the product's and
    the ids), so the inbox tries the link the host chose before the provider's ids.
    """
    keys: list[str] = []
    for key in candidates:
        if key is not None and key not in keys:
            keys.append(key)
    return tuple(keys)
