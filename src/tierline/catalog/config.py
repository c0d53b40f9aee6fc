"""Reading ``tierline.toml`` into a :class:`~tierline.catalog.spec.Catalog`.

Two layers, so every problem is reported at once:

* :func:`validate_catalog` walks the parsed TOML: unknown fields, wrong types, bad values. It
  builds what it can (a bad value falls back to its default) and then runs
* :func:`check_catalog` on the result: the rules that hold for any :class:`Catalog`, whether read
  from a file or built in code (key formats, provider links, features, free and credit tiers).

A problem already reported for a field is not reported again by the second layer.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tierline.catalog.models import LimitPeriod
from tierline.catalog.spec import (
    KNOWN_PROVIDERS,
    Catalog,
    LimitSpec,
    ReferralPolicy,
    RewardRecipient,
    TierSpec,
)
from tierline.errors import ConfigurationError

#: Tier and feature keys: lower case, start with a letter, at most 64 characters.
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

TOP_LEVEL_FIELDS = ("catalog", "features", "tiers", "referrals")
CATALOG_FIELDS = ("free_tier", "credit_tier")
TIER_FIELDS = (
    "name",
    "description",
    "seats",
    "customer_facing",
    "exempt",
    "fallback_price",
    "sort_order",
    "features",
    "limits",
    "providers",
)
LIMIT_FIELDS = ("limit", "period")
REFERRAL_FIELDS = ("reward_days", "reward", "stripe_coupon")

# Column widths of the catalog tables (catalog/models.py).
MAX_NAME = 128
MAX_PRICE = 32
MAX_EXTERNAL_KEY = 255

_PERIODS = ", ".join(p.value for p in LimitPeriod)
_REWARDS = ", ".join(r.value for r in RewardRecipient)
_LOCATION = re.compile(r"^(?P<message>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")

T = TypeVar("T")


@dataclass(frozen=True)
class CatalogProblem:
    """One thing wrong with a catalog: where (a TOML path like ``tiers.pro.seats``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class CatalogError(ConfigurationError):
    """A catalog file is missing, not TOML, or declares something invalid.

    ``problems`` lists every problem found (empty when the file could not be read at all).
    """

    def __init__(
        self, message: str, problems: list[CatalogProblem] | None = None, source: str = ""
    ) -> None:
        super().__init__(message)
        self.problems = problems or []
        self.source = source

    @classmethod
    def of(cls, source: str, problems: list[CatalogProblem]) -> CatalogError:
        """An error whose message lists every problem, one per line."""
        if len(problems) == 1:
            return cls(f"catalog {source}: {problems[0]}", problems, source)
        lines = "\n".join(f"  {problem}" for problem in problems)
        return cls(f"catalog {source} has {len(problems)} problems:\n{lines}", problems, source)


# -- entry points -----------------------------------------------------------------------------


def load_catalog(path: Path) -> Catalog:
    """Read and validate the catalog file at ``path``.

    Raises:
        CatalogError: the file is missing or unreadable, is not TOML, or has problems (all of
            them are listed in the message and in ``.problems``).
    """
    path = Path(path)
    if not path.exists():
        raise CatalogError(
            f"catalog file {path} does not exist; create it (see examples/catalog/tierline.toml) "
            "or name another with --catalog or TIERLINE_CATALOG",
            source=str(path),
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except IsADirectoryError as exc:
        raise CatalogError(f"catalog file {path} is a directory, not a TOML file") from exc
    except OSError as exc:
        raise CatalogError(f"cannot read catalog file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"catalog file {path} is not UTF-8 text (byte {exc.start})", source=str(path)
        ) from exc
    return parse_catalog(text, str(path))


def parse_catalog(text: str, source: str = "<string>") -> Catalog:
    """Parse and validate catalog TOML ``text``; ``source`` names it in messages.

    Raises:
        CatalogError: the text is not TOML or declares something invalid.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem = _syntax_problem(exc)
        raise CatalogError.of(source, [problem]) from exc
    catalog, problems = build_catalog(raw)
    if problems:
        raise CatalogError.of(source, problems)
    return catalog


def validate_catalog(raw: Mapping[str, Any]) -> list[CatalogProblem]:
    """Every problem of a parsed catalog file (a dict from :mod:`tomllib`); empty when valid."""
    return build_catalog(raw)[1]


def build_catalog(raw: Mapping[str, Any]) -> tuple[Catalog, list[CatalogProblem]]:
    """The catalog ``raw`` declares, built as far as possible, and every problem found."""
    reader = _Reader()
    catalog = reader.catalog(raw)
    reported = {p.path for p in reader.problems}
    checked = [p for p in check_catalog(catalog) if not _follows_from(p.path, reported)]
    return catalog, reader.problems + checked


# A rule on the left also reads the fields on the right: when one of them was unreadable, its
# default stood in, and the rule's verdict would be noise.
_DEPENDS_ON = {"providers": ("exempt", "customer_facing")}


def _follows_from(path: str, reported: set[str]) -> bool:
    """Whether a rule's problem at ``path`` is a consequence of a type problem already shown."""
    related = {path}
    head, _, last = path.rpartition(".")
    related.update(f"{head}.{name}" for name in _DEPENDS_ON.get(last, ()))
    return any(
        seen == candidate or seen.startswith(candidate + ".") or candidate.startswith(seen + ".")
        for seen in reported
        for candidate in related
    )


def _syntax_problem(exc: tomllib.TOMLDecodeError) -> CatalogProblem:
    match = _LOCATION.match(str(exc))
    if match is None:
        return CatalogProblem("TOML", str(exc))
    return CatalogProblem(
        f"line {match['line']}, column {match['column']}", f"invalid TOML: {match['message']}"
    )


# -- rules for any Catalog --------------------------------------------------------------------


def check_catalog(catalog: Catalog) -> list[CatalogProblem]:
    """Every rule a catalog must satisfy, for a file or a :class:`Catalog` built in code."""
    problems: list[CatalogProblem] = []

    def add(path: str, message: str) -> None:
        problems.append(CatalogProblem(path, message))

    if not catalog.tiers:
        add("tiers", "no tiers declared; add at least one [tiers.<key>] table")
    for key in catalog.features:
        if not KEY_PATTERN.match(key):
            add(f"features.{key}", _bad_key("feature", key))
    linked: dict[tuple[str, str], str] = {}
    for key, tier in catalog.tiers.items():
        _check_tier(catalog, key, tier, linked, add)
    _check_special_tiers(catalog, add)
    _check_referrals(catalog.referrals, add)
    return problems


def _check_tier(
    catalog: Catalog,
    key: str,
    tier: TierSpec,
    linked: dict[tuple[str, str], str],
    add: Callable[[str, str], None],
) -> None:
    where = f"tiers.{key}"
    if not KEY_PATTERN.match(key):
        add(where, _bad_key("tier", key))
    if tier.key != key:
        add(f"{where}.key", f"tier keyed {key!r} says its key is {tier.key!r}")
    if not tier.name.strip():
        add(f"{where}.name", "name is empty; give a display name such as 'Pro'")
    elif len(tier.name) > MAX_NAME:
        add(f"{where}.name", f"name is {len(tier.name)} characters; at most {MAX_NAME}")
    if tier.seats < 1:
        add(f"{where}.seats", f"seats must be at least 1, got {tier.seats}")
    if tier.fallback_price is not None and len(tier.fallback_price) > MAX_PRICE:
        add(
            f"{where}.fallback_price",
            f"fallback_price {tier.fallback_price!r} is longer than {MAX_PRICE} characters",
        )
    declared = catalog.features
    seen: set[str] = set()
    for feature in tier.features:
        if not KEY_PATTERN.match(feature):
            add(f"{where}.features", _bad_key("feature", feature))
        elif declared and feature not in declared:
            add(f"{where}.features", _unknown_feature(feature, declared))
        if feature in seen:
            add(f"{where}.features", f"feature {feature!r} is listed twice")
        seen.add(feature)
    for feature, limit in tier.limits.items():
        lwhere = f"{where}.limits.{feature}"
        if not KEY_PATTERN.match(feature):
            add(lwhere, _bad_key("limit", feature))
        elif declared and feature not in declared:
            add(lwhere, _unknown_feature(feature, declared))
        if limit.limit < 0:
            add(f"{lwhere}.limit", f"limit must be 0 or more, got {limit.limit}")
        if limit.period not in tuple(LimitPeriod):
            add(f"{lwhere}.period", f"period {limit.period!r} is not one of {_PERIODS}")
    for provider, keys in tier.providers.items():
        pwhere = f"{where}.providers.{provider}"
        if provider not in KNOWN_PROVIDERS:
            add(
                pwhere,
                f"unknown provider {provider!r}; known providers: {', '.join(KNOWN_PROVIDERS)}",
            )
        if not keys:
            add(pwhere, f"no external key given for {provider}")
        for external in keys:
            if not external.strip() or len(external) > MAX_EXTERNAL_KEY:
                add(pwhere, f"external key {external!r} must be 1 to {MAX_EXTERNAL_KEY} characters")
                continue
            # Case-insensitively: MariaDB's unique index would reject "Pro" beside "pro".
            other = linked.get((provider, external.casefold()))
            if other == key:
                add(pwhere, f"external key {external!r} is listed twice")
            elif other is not None:
                add(
                    pwhere,
                    f"external key {provider}:{external} is already linked to tier {other!r}",
                )
            else:
                linked[(provider, external.casefold())] = key
    if not tier.exempt and tier.customer_facing and not any(tier.providers.values()):
        add(
            f"{where}.providers",
            "a paid customer-facing tier needs a provider link, e.g. "
            'providers = { stripe = "pro_monthly" }; or set exempt = true or '
            "customer_facing = false",
        )


def fake_link_problems(catalog: Catalog) -> list[CatalogProblem]:
    """A problem for every tier linked to the ``fake`` provider, for when it is turned off.

    The fake provider grants paid access to whoever holds its secret, so it is off unless
    ``TIERLINE_ENABLE_FAKE_PROVIDER`` says otherwise, and a tier bought only through it cannot
    be bought at all.
    """
    return [
        CatalogProblem(
            f"tiers.{key}.providers.fake",
            "links to the fake provider, which is for demos and tests and is turned off: link "
            'the tier to your real provider (e.g. stripe = "pro_monthly"), or set '
            "TIERLINE_ENABLE_FAKE_PROVIDER=1 and TIERLINE_FAKE_WEBHOOK_SECRET where it is meant",
        )
        for key, tier in catalog.tiers.items()
        if "fake" in tier.providers
    ]


def _check_special_tiers(catalog: Catalog, add: Callable[[str, str], None]) -> None:
    valid = ", ".join(catalog.tiers) or "none declared"
    if catalog.free_tier is not None:
        free = catalog.tiers.get(catalog.free_tier)
        if free is None:
            add(
                "catalog.free_tier",
                f"free_tier {catalog.free_tier!r} is not a tier; tiers: {valid}",
            )
        elif not free.exempt:
            add(
                f"tiers.{catalog.free_tier}.exempt",
                f"tier {catalog.free_tier!r} is the free tier, so it must be exempt: set "
                "exempt = true, or name another tier with [catalog] free_tier",
            )
    if catalog.credit_tier is not None and catalog.credit_tier not in catalog.tiers:
        add(
            "catalog.credit_tier",
            f"credit_tier {catalog.credit_tier!r} is not a tier; tiers: {valid}",
        )


def _check_referrals(policy: ReferralPolicy, add: Callable[[str, str], None]) -> None:
    if policy.reward_days < 0:
        add("referrals.reward_days", f"reward_days must be 0 or more, got {policy.reward_days}")
    if policy.reward_to not in tuple(RewardRecipient):
        add("referrals.reward", f"reward {policy.reward_to!r} is not one of {_REWARDS}")
    if policy.stripe_coupon is not None and not policy.stripe_coupon.strip():
        add("referrals.stripe_coupon", "stripe_coupon is empty; give a Stripe coupon id or omit it")


def _bad_key(kind: str, key: str) -> str:
    return (
        f"{kind} key {key!r} is not valid: use lower-case letters, digits, '_' or '-', "
        "starting with a letter, at most 64 characters"
    )


def _unknown_feature(feature: str, declared: Mapping[str, object]) -> str:
    return f"unknown feature {feature!r}; declared in [features]: {', '.join(sorted(declared))}"


# -- reading the raw TOML ---------------------------------------------------------------------


class _Reader:
    """Turns parsed TOML into a Catalog, collecting type and field problems as it goes."""

    def __init__(self) -> None:
        self.problems: list[CatalogProblem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(CatalogProblem(path, message))

    def catalog(self, raw: Mapping[str, Any]) -> Catalog:
        self._unknown(raw, TOP_LEVEL_FIELDS, "", "top-level table")
        settings = self._table(raw, "catalog", "catalog")
        self._unknown(settings, CATALOG_FIELDS, "catalog", "[catalog] field")
        features = self._features(raw)
        tiers_raw = self._table(raw, "tiers", "tiers")
        tiers: dict[str, TierSpec] = {}
        for index, (key, value) in enumerate(tiers_raw.items()):
            if not isinstance(value, dict):
                self.add(f"tiers.{key}", f"must be a table like [tiers.{key}], got {_kind(value)}")
                continue
            tiers[key] = self._tier(key, value, index)
        free_tier = self._get(settings, "free_tier", str, "catalog.free_tier", None)
        credit_tier = self._get(settings, "credit_tier", str, "catalog.credit_tier", None)
        return Catalog(
            tiers=tiers,
            features=features,
            referrals=self._referrals(raw),
            free_tier=free_tier if free_tier is not None else _default_free_tier(tiers),
            credit_tier=credit_tier if credit_tier is not None else _default_credit_tier(tiers),
        )

    def _features(self, raw: Mapping[str, Any]) -> dict[str, str | None]:
        table = self._table(raw, "features", "features")
        features: dict[str, str | None] = {}
        for key, value in table.items():
            if isinstance(value, str):
                features[key] = value
            else:
                self.add(
                    f"features.{key}",
                    f'must be a display name string like {key} = "{key.title()}", '
                    f"got {_kind(value)}",
                )
                features[key] = None
        return features

    def _tier(self, key: str, raw: Mapping[str, Any], index: int) -> TierSpec:
        where = f"tiers.{key}"
        self._unknown(raw, TIER_FIELDS, where, "tier field")
        name = self._get(raw, "name", str, f"{where}.name", None)
        if name is None and "name" not in raw:
            self.add(f"{where}.name", 'missing; give a display name, e.g. name = "Pro"')
        return TierSpec(
            key=key,
            name=name if name is not None else key,
            description=self._get(raw, "description", str, f"{where}.description", None),
            seats=self._get(raw, "seats", int, f"{where}.seats", 1),
            customer_facing=self._get(
                raw, "customer_facing", bool, f"{where}.customer_facing", True
            ),
            exempt=self._get(raw, "exempt", bool, f"{where}.exempt", False),
            fallback_price=self._get(raw, "fallback_price", str, f"{where}.fallback_price", None),
            sort_order=self._get(raw, "sort_order", int, f"{where}.sort_order", index),
            features=self._feature_list(raw, where),
            limits=self._limits(raw, where),
            providers=self._providers(raw, where),
        )

    def _feature_list(self, raw: Mapping[str, Any], where: str) -> tuple[str, ...]:
        value = raw.get("features", [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.add(f"{where}.features", f"must be a list of feature keys, got {value!r}")
            return ()
        return tuple(value)

    def _limits(self, raw: Mapping[str, Any], where: str) -> dict[str, LimitSpec]:
        table = self._table(raw, "limits", f"{where}.limits")
        limits: dict[str, LimitSpec] = {}
        for feature, value in table.items():
            lwhere = f"{where}.limits.{feature}"
            if not isinstance(value, dict):
                self.add(
                    lwhere,
                    f'must be a table like {{ limit = 100, period = "month" }}, got {_kind(value)}',
                )
                continue
            self._unknown(value, LIMIT_FIELDS, lwhere, "limit field")
            if "limit" not in value:
                self.add(f"{lwhere}.limit", "missing; give the number allowed per period")
            number = self._get(value, "limit", int, f"{lwhere}.limit", 0)
            period_text = self._get(value, "period", str, f"{lwhere}.period", "none")
            try:
                period = LimitPeriod(period_text)
            except ValueError:
                self.add(f"{lwhere}.period", f"period {period_text!r} is not one of {_PERIODS}")
                period = LimitPeriod.NONE
            limits[feature] = LimitSpec(limit=number, period=period)
        return limits

    def _providers(self, raw: Mapping[str, Any], where: str) -> dict[str, tuple[str, ...]]:
        table = self._table(raw, "providers", f"{where}.providers")
        providers: dict[str, tuple[str, ...]] = {}
        for provider, value in table.items():
            if isinstance(value, str):
                providers[provider] = (value,)
            elif isinstance(value, list) and all(isinstance(item, str) for item in value):
                providers[provider] = tuple(value)
            else:
                self.add(
                    f"{where}.providers.{provider}",
                    f"must be an external key or a list of them, got {value!r}",
                )
        return providers

    def _referrals(self, raw: Mapping[str, Any]) -> ReferralPolicy:
        table = self._table(raw, "referrals", "referrals")
        self._unknown(table, REFERRAL_FIELDS, "referrals", "[referrals] field")
        reward_text = self._get(
            table, "reward", str, "referrals.reward", RewardRecipient.BOTH.value
        )
        try:
            reward = RewardRecipient(reward_text)
        except ValueError:
            self.add("referrals.reward", f"reward {reward_text!r} is not one of {_REWARDS}")
            reward = RewardRecipient.BOTH
        return ReferralPolicy(
            reward_days=self._get(table, "reward_days", int, "referrals.reward_days", 0),
            reward_to=reward,
            stripe_coupon=self._get(table, "stripe_coupon", str, "referrals.stripe_coupon", None),
        )

    # -- helpers ------------------------------------------------------------------------------

    def _table(self, raw: Mapping[str, Any], name: str, path: str) -> Mapping[str, Any]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            self.add(path, f"must be a table, got {_kind(value)}")
            return {}
        return value

    def _unknown(
        self, raw: Mapping[str, Any], known: tuple[str, ...], where: str, kind: str
    ) -> None:
        for name in raw:
            if name in known:
                continue
            path = f"{where}.{name}" if where else name
            if name == "retired" and known is TIER_FIELDS:
                # Retirement is sync's decision: a tier leaves the file and sync retires it.
                self.add(path, "retired is not declared; remove the tier and sync retires it")
            else:
                self.add(path, f"unknown {kind} {name!r}; expected one of {', '.join(known)}")

    def _get(self, raw: Mapping[str, Any], name: str, kind: type[T], path: str, default: T) -> T:
        if name not in raw:
            return default
        value = raw[name]
        # bool is an int in Python; ``seats = true`` is a mistake, not 1.
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
        self.add(path, f"must be {_KIND_NAMES[kind]}, got {_kind(value)} {value!r}")
        return default


_KIND_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
}


def _kind(value: object) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _default_free_tier(tiers: Mapping[str, TierSpec]) -> str | None:
    return "free" if "free" in tiers else None


def _default_credit_tier(tiers: Mapping[str, TierSpec]) -> str | None:
    paid = [(tier.sort_order, index, key) for index, (key, tier) in enumerate(tiers.items())]
    paid = [item for item in paid if not tiers[item[2]].exempt]
    return max(paid)[2] if paid else None
