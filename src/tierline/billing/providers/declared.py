"""Providers that are a declaration of their fields: where each normalized value lives.

Every provider sends one object per event (a subscription, membership, order, payment,
invoice or checkout) in a JSON envelope. A provider module declares, as dotted paths from the
payload's root, where the event id, type and time are, where its subscription object keeps each
part of a snapshot (:class:`SnapshotSpec`; the events that carry one are its
:class:`~tierline.billing.providers.ordering.LifecycleOrder`'s), which events carry facts
(:data:`FactSpec`) and its status map; :class:`DeclaredProvider` does the reading, with every
error naming the full path. What a provider cannot declare (Stripe's and Paddle's item lists,
Paddle's scheduled change, Stripe's thin events) it adds by overriding one hook
(:meth:`DeclaredProvider.items`, :meth:`~DeclaredProvider.snapshot`,
:meth:`~DeclaredProvider.body`), never by re-implementing the parse.

A :class:`Field` lists the paths to try in order (the first present value wins) and how to
read the value (:data:`Kind`). A missing intermediate object gives None, never an error; a
present value of the wrong type is ``malformed_payload``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
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

#: How a field's value is read: an id (string or integer), text, a reference (a string id, or
#: the expanded object's ``id``), an RFC 3339 time, a unix-seconds time, a boolean, an integer,
#: an amount in minor units (integer), an amount in minor units sent as a string of digits, an
#: amount in major units (a JSON number, converted to minor units), or a "paid" marker (true,
#: or the string ``"paid"``).
Kind = Literal[
    "id", "text", "ref", "iso", "unix", "flag", "int", "minor", "digits", "major", "paid"
]
#: ISO 4217 currencies without minor units (a Whop ``total`` of 500 JPY is 500 minor units).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
     "xaf", "xof", "xpf"}
)  # fmt: skip


@dataclass(frozen=True)
class Field:
    """Where one value lives (paths tried in order) and how to read it.

    A ``required`` field found at none of its paths is ``malformed_payload``.
    """

    paths: tuple[str, ...]
    kind: Kind = "id"
    required: bool = False

    @classmethod
    def of(cls, *paths: str, kind: Kind = "id", required: bool = False) -> Field:
        """A field from its paths, most specific first."""
        return cls(paths, kind, required)


#: Facts of a non-snapshot event: fact name (``customer_id``, ``amount_paid``...) -> field.
FactSpec = Mapping[str, Field]


def by_event(*groups: tuple[Iterable[str], FactSpec]) -> dict[str, FactSpec]:
    """A ``fact_events`` table from (event types, their facts) groups."""
    return {event: spec for events, spec in groups for event in events}


#: One path or several (tried in order).
Paths = str | tuple[str, ...]
#: Where most providers keep the host's account ref: the object's metadata, under the key
#: Tierline's checkout sets (``tierline_account``).
ACCOUNT_METADATA = "metadata.tierline_account"
#: The snapshot parts that are times (RFC 3339 unless a spec's ``kinds`` say otherwise).
TIME_PARTS = ("updated_at", "current_period_end", "cancel_at", "trial_end")
#: How each snapshot part is read by default (an id otherwise).
_SNAPSHOT_KINDS: Mapping[str, Kind] = {
    **dict.fromkeys(TIME_PARTS, "iso"),
    "cancel_at_period_end": "flag",
    "quantity": "int",
}
#: ``kinds`` of a provider whose times are unix seconds and whose ids are strings (Stripe, fake).
UNIX_TEXT_KINDS: Mapping[str, Kind] = {
    **dict.fromkeys(TIME_PARTS, "unix"),
    **dict.fromkeys(("external_id", "account_ref", "customer_id"), "text"),
}


@dataclass(frozen=True, kw_only=True)
class _Rooted:
    """Paths relative to ``root`` (the event's object), or absolute when they start with ``/``.

    The parts every object names: where the host's account ref and the customer id live.
    """

    root: str = "data"
    account_ref: Paths = ACCOUNT_METADATA
    customer_id: Paths = "customer_id"

    def paths(self, part: str) -> tuple[str, ...]:
        """The absolute dotted paths of part ``part``."""
        found = self._resolved.get(part)
        if found is None:
            declared: Paths = getattr(self, part)
            listed = (declared,) if isinstance(declared, str) else declared
            found = tuple(p[1:] if p.startswith("/") else f"{self.root}.{p}" for p in listed)
            self._resolved[part] = found
        return found

    @cached_property
    def _resolved(self) -> dict[str, tuple[str, ...]]:
        # Part -> its absolute paths, resolved on first use: a spec is frozen, and every
        # webhook reads the same parts (racing threads store equal tuples).
        return {}


@dataclass(frozen=True, kw_only=True)
class SnapshotSpec(_Rooted):
    """Where a provider's subscription object keeps each part of a snapshot.

    Paths are relative to ``root`` (the subscription object, e.g. ``data``), or absolute from
    the payload's root when they start with ``/``. The defaults are the names most providers
    use; a provider declares only what it names otherwise. The kind of each part is fixed
    (times are RFC 3339, ``cancel_at_period_end`` a boolean, ``quantity`` an integer, the rest
    ids) unless ``kinds`` names another; ``()`` means the provider does not send it.
    ``statuses`` maps the provider's status values to Tierline's; ``lifecycle`` ranks the
    snapshots, and its event types are the events that carry one.
    """

    statuses: Mapping[str, SubscriptionStatus]
    lifecycle: LifecycleOrder
    tier_keys: Paths = ()
    external_id: Paths = "id"
    status: Paths = "status"
    updated_at: Paths = "updated_at"
    quantity: Paths = ()
    current_period_end: Paths = "current_period_end"
    cancel_at_period_end: Paths = "cancel_at_period_end"
    cancel_at: Paths = ()
    trial_end: Paths = "trial_end"
    #: Facts read beside the snapshot (e.g. a Polar subscription's ``checkout_id``).
    facts: FactSpec = field(default_factory=dict)
    #: Part -> kind, where the provider's differs from the default (e.g. unix-seconds times).
    kinds: Mapping[str, Kind] = field(default_factory=dict)

    def field(self, part: str) -> Field:
        """Snapshot part ``part`` as a :class:`Field` of its kind."""
        found = self._fields.get(part)
        if found is None:
            kind = self.kinds.get(part) or _SNAPSHOT_KINDS.get(part, "id")
            found = self._fields[part] = Field(self.paths(part), kind)
        return found

    @cached_property
    def _fields(self) -> dict[str, Field]:
        # Part -> its Field, built on first use (as ``_resolved``).
        return {}


@dataclass(frozen=True, kw_only=True)
class PaymentSpec(_Rooted):
    """Where a provider's payment object (order, invoice, payment) keeps each payment fact.

    Paths as in :class:`SnapshotSpec`. The facts are the ones a Stripe ``invoice.paid`` gives:
    ``payment_id``, ``subscription_id``, ``customer_id``, ``account_ref``, ``amount_paid``
    (minor units: ``amount`` read as ``amount_kind``, None unless ``paid`` says it was paid,
    when the provider has such a field), ``currency``, ``billing_reason``.
    """

    amount: Paths
    amount_kind: Kind = "minor"
    paid: Paths = ()
    payment_id: Paths = "id"
    subscription_id: Paths = "subscription_id"
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


#: The :class:`PayloadReader` method that reads each plain kind.
_READERS: Mapping[Kind, str] = {
    "id": "opt_id",
    "text": "opt_string",
    "ref": "ref",
    "iso": "iso",
    "unix": "unix",
    "flag": "flag",
    "int": "opt_int",
    "minor": "opt_int",
    "digits": "digits",
}


#: A dotted path split once: each parent object's key with its own dotted path, and the last
#: key. Paths come from provider declarations (a bounded set), never from payloads.
_Steps = tuple[tuple[tuple[str, str], ...], str]
_STEPS: dict[str, _Steps] = {}


_MAX_STEPS = 4096


def _steps(dotted: str) -> _Steps:
    found = _STEPS.get(dotted)
    if found is None:
        *parents, key = dotted.split(".")
        found = (
            tuple((name, ".".join(parents[: index + 1])) for index, name in enumerate(parents)),
            key,
        )
        if len(_STEPS) < _MAX_STEPS:  # a bound, should a provider ever build paths per call
            _STEPS[dotted] = found
    return found


@dataclass(frozen=True)
class DeclaredReader:
    """Reads :class:`Field` values from one payload, by dotted path from its root."""

    reader: PayloadReader
    payload: Mapping[str, Any]
    #: Objects already read, by dotted path (None: absent). Many fields share their parents
    #: (``data.subscription``...); only a successful read is kept, so a malformed parent fails
    #: each time it is read, as without it.
    _objects: dict[str, Mapping[str, Any] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def parent(self, dotted: str) -> tuple[Mapping[str, Any], str] | None:
        """The object holding ``dotted``'s last key, and that key (None: an object is absent)."""
        parents, key = _steps(dotted)
        data: Mapping[str, Any] = self.payload
        objects = self._objects
        for name, path in parents:
            if path in objects:
                inner = objects[path]
            else:
                inner = objects[path] = self.reader.opt_obj(data, name, path)
            if inner is None:
                return None
            data = inner
        return data, key

    def object(self, dotted: str) -> Mapping[str, Any]:
        """The object at ``dotted`` (an empty one when it or a parent is absent)."""
        found = self.parent(f"{dotted}.-")
        return {} if found is None else found[0]

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
        if spec.required:
            raise self.reader.fail(" or ".join(spec.paths), None, "a non-empty string")
        return False if spec.kind == "flag" else None

    def _read(
        self, kind: Kind, data: Mapping[str, Any], key: str, path: str, currency: str | None
    ) -> Any:
        if kind == "paid":
            return data[key] is True or data[key] == "paid"
        if kind == "major":
            return _minor(self.reader, data[key], path, currency)
        return getattr(self.reader, _READERS[kind])(data, key, path)

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
    below. :meth:`event_id` may be overridden when the id is not a payload field; the other
    hooks when a part cannot be declared.
    """

    event_id_field: ClassVar[Field]
    event_type_field: ClassVar[Field]
    occurred_at_field: ClassVar[Field]
    #: The subscription: where it lives, its statuses, and its lifecycle (whose event types
    #: are the events that carry a snapshot).
    subscription: ClassVar[SnapshotSpec]
    #: Event type -> its facts (payments, checkouts); these carry no snapshot.
    fact_events: ClassVar[Mapping[str, FactSpec]] = {}

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

    def occurred_at(self, fields: DeclaredReader) -> datetime | None:
        """When the event happened (default: the declared field)."""
        value: datetime | None = fields.value(self.occurred_at_field)
        return value

    def livemode(self, fields: DeclaredReader) -> bool | None:
        """The provider's live/test flag (default: None, the provider sends none)."""
        return None

    def parse(self, payload: Mapping[str, Any]) -> ProviderEvent:
        """Normalize a verified payload (see the provider module's docstring)."""
        fields = DeclaredReader(self.reader, payload)
        event_type = fields.value(self.event_type_field)
        if event_type is None:
            path = " or ".join(self.event_type_field.paths)
            raise self.reader.fail(path, None, "the event type (a non-empty string)")
        snapshot, facts = self.body(fields, event_type)
        return ProviderEvent(
            provider=self.name,
            event_id=self.event_id(fields, event_type),
            type=event_type,
            occurred_at=self.occurred_at(fields),
            subscription=snapshot,
            data=facts,
            livemode=self.livemode(fields),
        )

    def body(
        self, fields: DeclaredReader, event_type: str
    ) -> tuple[SubscriptionSnapshot | None, dict[str, Any]]:
        """The event's snapshot (a lifecycle event) and facts; neither for another type."""
        if event_type in self.subscription.lifecycle.events:
            spec = self.subscription
            return self.snapshot(fields, spec, event_type), fields.facts(spec.facts)
        if (fact_spec := self.fact_events.get(event_type)) is not None:
            return None, fields.facts(fact_spec)
        return None, {}

    def items(self, fields: DeclaredReader, spec: SnapshotSpec) -> tuple[SubscriptionItem, ...]:
        """The subscription's priced items (default: one, from ``tier_keys`` and ``quantity``)."""
        keys = item_keys(*(fields.value(Field.of(path)) for path in spec.paths("tier_keys")))
        return (SubscriptionItem(keys=keys, quantity=fields.value(spec.field("quantity"))),)

    def snapshot(
        self, fields: DeclaredReader, spec: SnapshotSpec, event_type: str
    ) -> SubscriptionSnapshot:
        """The subscription at ``spec.root`` as a snapshot ranked by ``lifecycle``."""
        [status_path, *_] = spec.paths("status")
        found = fields.parent(status_path)
        if found is None:
            raise self.reader.fail(status_path, None, f"one of {', '.join(spec.statuses)}")
        status: SubscriptionStatus = self.reader.choice(*found, status_path, spec.statuses)
        external_id = fields.value(spec.field("external_id"))
        if external_id is None:
            raise self.reader.fail(spec.paths("external_id")[0], None, "the subscription's id")
        items = self.items(fields, spec)
        parts = {
            part: fields.value(spec.field(part))
            for part in ("account_ref", "customer_id", "cancel_at_period_end", *TIME_PARTS)
        }
        return SubscriptionSnapshot(
            external_id=external_id,
            status=status,
            items=items,
            rank=spec.lifecycle.rank(event_type, status),
            livemode=self.livemode(fields),
            **parts,
        )


class EventObjectProvider(DeclaredProvider):
    """A declared provider whose events are Stripe's event object (Stripe, the fake provider).

    The envelope is ``{"id", "type", "created" (unix seconds), "data"}``; the id is required.
    """

    event_id_field = Field.of("id", kind="text")
    event_type_field = Field.of("type", kind="text")
    occurred_at_field = Field.of("created", kind="unix")
