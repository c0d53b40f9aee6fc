"""Providers that are a declaration of their fields: where each normalized value lives.

Polar, Whop and Lemon Squeezy each send one object per event (a subscription, membership,
order, payment or checkout) in a JSON envelope. A provider module declares, as dotted paths
from the payload's root, where the event id, type and time are, which events carry a
subscription snapshot (:class:`SnapshotSpec`) and which carry facts (:data:`FactSpec`), its
status map and its :class:`~tierline.billing.providers.ordering.LifecycleOrder`;
:class:`DeclaredProvider` does the reading, with every error naming the full path.

A :class:`Field` lists the paths to try in order (the first present value wins) and how to
read the value (:data:`Kind`). A missing intermediate object gives None, never an error; a
present value of the wrong type is ``malformed_payload``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any, ClassVar, Literal

from tierline.billing.models import SubscriptionStatus
from tierline.billing.providers.base import ProviderEvent, SubscriptionItem, SubscriptionSnapshot
from tierline.billing.providers.fields import PayloadReader
from tierline.billing.providers.items import item_keys
from tierline.billing.providers.ordering import LifecycleOrder
from tierline.billing.providers.signing import SignedProvider
from tierline.bounds import INT64

#: How a field's value is read: an id (string or integer), text, an RFC 3339 time, a boolean,
#: an integer, an amount in minor units (integer), an amount in major units (a JSON number,
#: converted to minor units), or a "paid" marker (true, or the string ``"paid"``).
Kind = Literal["id", "text", "iso", "flag", "int", "minor", "major", "paid"]
#: ISO 4217 currencies without minor units (a Whop ``total`` of 500 JPY is 500 minor units).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
     "xaf", "xof", "xpf"}
)  # fmt: skip


@dataclass(frozen=True)
class Field:
    """Where one value lives (paths tried in order) and how to read it."""

    paths: tuple[str, ...]
    kind: Kind = "id"

    @classmethod
    def of(cls, *paths: str, kind: Kind = "id") -> Field:
        """A field from its paths, most specific first."""
        return cls(paths, kind)


#: Facts of a non-snapshot event: fact name (``customer_id``, ``amount_paid``...) -> field.
FactSpec = Mapping[str, Field]


#: One path or several (tried in order).
Paths = str | tuple[str, ...]
#: How each snapshot part is read (an id otherwise).
_SNAPSHOT_KINDS: Mapping[str, Kind] = {
    "updated_at": "iso",
    "current_period_end": "iso",
    "cancel_at": "iso",
    "trial_end": "iso",
    "cancel_at_period_end": "flag",
    "quantity": "int",
}


class _Rooted:
    """Paths relative to ``root`` (the event's object), or absolute when they start with ``/``."""

    root: str

    def paths(self, part: str) -> tuple[str, ...]:
        """The absolute dotted paths of part ``part``."""
        declared: Paths = getattr(self, part)
        found = (declared,) if isinstance(declared, str) else declared
        return tuple(p[1:] if p.startswith("/") else f"{self.root}.{p}" for p in found)


@dataclass(frozen=True)
class SnapshotSpec(_Rooted):
    """Where a provider's subscription object keeps each part of a snapshot.

    Paths are relative to ``root`` (the subscription object, e.g. ``data``), or absolute from
    the payload's root when they start with ``/``. The defaults are the names most providers
    use; a provider declares only what it names otherwise. The kind of each part is fixed
    (times are RFC 3339, ``cancel_at_period_end`` a boolean, ``quantity`` an integer, the rest
    ids); ``()`` means the provider does not send it.
    """

    root: str
    tier_keys: Paths
    external_id: Paths = "id"
    status: Paths = "status"
    updated_at: Paths = "updated_at"
    account_ref: Paths = ()
    customer_id: Paths = "customer_id"
    quantity: Paths = ()
    current_period_end: Paths = "current_period_end"
    cancel_at_period_end: Paths = "cancel_at_period_end"
    cancel_at: Paths = ()
    trial_end: Paths = "trial_end"
    #: Facts read beside the snapshot (e.g. a Polar subscription's ``checkout_id``).
    facts: FactSpec = field(default_factory=dict)

    def field(self, part: str) -> Field:
        """Snapshot part ``part`` as a :class:`Field` of its fixed kind."""
        return Field(self.paths(part), _SNAPSHOT_KINDS.get(part, "id"))


@dataclass(frozen=True)
class PaymentSpec(_Rooted):
    """Where a provider's payment object (order, invoice, payment) keeps each payment fact.

    Paths as in :class:`SnapshotSpec`. The facts are the ones a Stripe ``invoice.paid`` gives:
    ``payment_id``, ``subscription_id``, ``customer_id``, ``account_ref``, ``amount_paid``
    (minor units: ``amount`` read as ``amount_kind``, None unless ``paid`` says it was paid,
    when the provider has such a field), ``currency``, ``billing_reason``.
    """

    root: str
    amount: Paths
    amount_kind: Kind = "minor"
    paid: Paths = ()
    payment_id: Paths = "id"
    subscription_id: Paths = "subscription_id"
    customer_id: Paths = "customer_id"
    account_ref: Paths = ()
    currency: Paths = "currency"
    billing_reason: Paths = "billing_reason"

    def facts(self) -> FactSpec:
        """The payment facts as fields."""
        facts = {part: Field(self.paths(part), "id") for part in _ID_FACTS}
        facts.update({part: Field(self.paths(part), "text") for part in _TEXT_FACTS})
        facts["amount_paid"] = Field(self.paths("amount"), self.amount_kind)
        if self.paid:
            facts["paid"] = Field(self.paths("paid"), "paid")
        return facts


_ID_FACTS = ("payment_id", "subscription_id", "customer_id", "account_ref")
_TEXT_FACTS = ("currency", "billing_reason")


#: The largest amount (major units, or minor ones) whose minor units fit a BigInteger column.
_MAX_MAJOR_AMOUNT = Decimal(INT64[1]) / 100


def _minor(reader: PayloadReader, value: Any, path: str, currency: str | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise reader.fail(path, value, "an amount (a number)")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise reader.fail(path, value, "an amount (a number)") from exc
    # Bounded before int(): int(Decimal("1e9999")) raises ValueError (too many digits), which
    # would fail the delivery with 500 on every retry instead of refusing it.
    if not amount.is_finite() or abs(amount) > _MAX_MAJOR_AMOUNT:
        raise reader.fail(path, value, "a finite amount within a 64-bit integer of minor units")
    exponent = 0 if (currency or "").lower() in ZERO_DECIMAL_CURRENCIES else 2
    return int(amount.scaleb(exponent).to_integral_value())


@dataclass(frozen=True)
class DeclaredReader:
    """Reads :class:`Field` values from one payload, by dotted path from its root."""

    reader: PayloadReader
    payload: Mapping[str, Any]

    def parent(self, dotted: str) -> tuple[Mapping[str, Any], str] | None:
        """The object holding ``dotted``'s last key, and that key (None: an object is absent)."""
        *parents, key = dotted.split(".")
        data: Mapping[str, Any] = self.payload
        for index, name in enumerate(parents):
            inner = self.reader.opt_obj(data, name, ".".join(parents[: index + 1]))
            if inner is None:
                return None
            data = inner
        return data, key

    def value(self, spec: Field, currency: str | None = None) -> Any:
        """The first present value among ``spec.paths``, read as ``spec.kind`` (or None)."""
        for dotted in spec.paths:
            found = self.parent(dotted)
            if found is None or found[0].get(found[1]) is None:
                continue
            data, key = found
            value = self._read(spec.kind, data, key, dotted, currency)
            if value is not None:
                return value
        return False if spec.kind == "flag" else None

    def _read(
        self, kind: Kind, data: Mapping[str, Any], key: str, path: str, currency: str | None
    ) -> Any:
        read = self.reader
        if kind == "id":
            return read.opt_id(data, key, path)
        if kind == "text":
            return read.opt_string(data, key, path)
        if kind == "iso":
            return read.iso(data, key, path)
        if kind == "flag":
            return read.flag(data, key, path)
        if kind in ("int", "minor"):
            return read.opt_int(data, key, path)
        if kind == "paid":
            return data[key] is True or data[key] == "paid"
        return _minor(read, data[key], path, currency)

    def facts(self, spec: FactSpec) -> dict[str, Any]:
        """Every fact of ``spec``; ``amount_paid`` is None unless ``paid`` says it was."""
        currency = self.value(spec["currency"]) if "currency" in spec else None
        facts = {name: self.value(where, currency) for name, where in spec.items()}
        if facts.pop("paid", True) is not True:
            facts["amount_paid"] = None
        return facts


class DeclaredProvider(SignedProvider):
    """A provider whose ``parse`` is its declaration (see the module docstring).

    Subclasses set ``name`` and the signing attributes of
    :class:`~tierline.billing.providers.signing.SignedProvider`, and the class attributes
    below. :meth:`event_id` may be overridden when the id is not a payload field.
    """

    event_id_field: ClassVar[Field]
    event_type_field: ClassVar[Field]
    occurred_at_field: ClassVar[Field]
    #: Event type -> where its subscription lives; these events carry a snapshot.
    snapshots: ClassVar[Mapping[str, SnapshotSpec]]
    #: Event type -> its facts (payments, checkouts); these carry no snapshot.
    fact_events: ClassVar[Mapping[str, FactSpec]]
    statuses: ClassVar[Mapping[str, SubscriptionStatus]]
    lifecycle: ClassVar[LifecycleOrder]

    @cached_property
    def reader(self) -> PayloadReader:
        """Reads this provider's payloads; errors name it."""
        return PayloadReader(self.name)

    def event_id(self, fields: DeclaredReader, event_type: str) -> str:
        """The event's dedup key (default: the declared id field, required)."""
        value = fields.value(self.event_id_field)
        if value is None:
            path = " or ".join(self.event_id_field.paths)
            raise self.reader.fail(path, None, "a non-empty string")
        return str(value)

    def parse(self, payload: Mapping[str, Any]) -> ProviderEvent:
        """Normalize a verified payload (see the provider module's docstring)."""
        fields = DeclaredReader(self.reader, payload)
        event_type = fields.value(self.event_type_field)
        if event_type is None:
            path = " or ".join(self.event_type_field.paths)
            raise self.reader.fail(path, None, "the event type (a non-empty string)")
        snapshot: SubscriptionSnapshot | None = None
        facts: dict[str, Any] = {}
        if (spec := self.snapshots.get(event_type)) is not None:
            snapshot = self._snapshot(fields, spec, event_type)
            facts = fields.facts(spec.facts)
        elif (fact_spec := self.fact_events.get(event_type)) is not None:
            facts = fields.facts(fact_spec)
        return ProviderEvent(
            provider=self.name,
            event_id=self.event_id(fields, event_type),
            type=event_type,
            occurred_at=fields.value(self.occurred_at_field),
            subscription=snapshot,
            data=facts,
        )

    def _snapshot(
        self, fields: DeclaredReader, spec: SnapshotSpec, event_type: str
    ) -> SubscriptionSnapshot:
        [status_path, *_] = spec.paths("status")
        found = fields.parent(status_path)
        if found is None:
            raise self.reader.fail(status_path, None, f"one of {', '.join(self.statuses)}")
        status: SubscriptionStatus = self.reader.choice(*found, status_path, self.statuses)
        external_id = fields.value(spec.field("external_id"))
        if external_id is None:
            raise self.reader.fail(spec.paths("external_id")[0], None, "the subscription's id")
        keys = item_keys(*(fields.value(Field.of(path)) for path in spec.paths("tier_keys")))
        parts = {
            part: fields.value(spec.field(part))
            for part in (
                "account_ref",
                "customer_id",
                "current_period_end",
                "cancel_at_period_end",
                "cancel_at",
                "trial_end",
                "updated_at",
            )
        }
        item = SubscriptionItem(keys=keys, quantity=fields.value(spec.field("quantity")))
        return SubscriptionSnapshot(
            external_id=external_id,
            status=status,
            items=(item,),
            rank=self.lifecycle.rank(event_type, status),
            **parts,
        )
