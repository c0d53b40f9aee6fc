"""Writing a declared catalog to the database inside the caller's transaction.

The catalog file is the truth for what it declares. A tier that left the file is deleted when
nothing references it, else retired: subscriptions keep pointing at it, and it keeps its
features and provider links, so late webhooks for its old prices still resolve.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from tierline.catalog.models import Feature, LimitPeriod, Tier, TierFeature, TierProviderLink
from tierline.catalog.spec import Catalog, TierSpec
from tierline.db.models import Base

# Tier columns the file declares, in the order diff lines report them.
_TIER_FIELDS = (
    "name",
    "description",
    "seats",
    "customer_facing",
    "exempt",
    "fallback_price",
    "sort_order",
)

Grant = tuple[int | None, str]


def apply_catalog(session: Session, catalog: Catalog) -> list[str]:
    """Make the database match ``catalog``; returns one line per change, in a stable order.

    Flushes but never commits: the caller commits, or rolls back for a dry run.
    """
    changes: list[str] = []
    features = _sync_features(session, catalog, changes)
    tiers = {
        tier.key: tier
        for tier in session.scalars(
            select(Tier).options(selectinload(Tier.features), selectinload(Tier.provider_links))
        )
    }
    for spec in catalog.tiers.values():
        tiers[spec.key] = _sync_tier(session, tiers.get(spec.key), spec, features, changes)
    session.flush()
    _sync_links(session, catalog, tiers, changes)
    session.flush()
    _remove_missing_tiers(session, catalog, tiers, changes)
    session.flush()
    _remove_unused_features(session, catalog, features, changes)
    session.flush()
    return changes


def _wanted_features(catalog: Catalog) -> dict[str, str | None]:
    wanted = dict(catalog.features)
    for spec in catalog.tiers.values():
        for key in (*spec.features, *spec.limits):
            wanted.setdefault(key, None)
    return wanted


def _sync_features(session: Session, catalog: Catalog, changes: list[str]) -> dict[str, Feature]:
    existing = {feature.key: feature for feature in session.scalars(select(Feature))}
    for key, name in _wanted_features(catalog).items():
        feature = existing.get(key)
        if feature is None:
            existing[key] = Feature(key=key, name=name)
            session.add(existing[key])
            changes.append(f"+ feature {key}")
        elif feature.name != name:
            changes.append(f"~ feature {key}: name {feature.name!r} -> {name!r}")
            feature.name = name
    session.flush()
    return existing


def _sync_tier(
    session: Session,
    tier: Tier | None,
    spec: TierSpec,
    features: dict[str, Feature],
    changes: list[str],
) -> Tier:
    values = {
        "name": spec.name,
        "description": spec.description,
        "seats": spec.seats,
        "customer_facing": spec.customer_facing,
        "exempt": spec.exempt,
        "fallback_price": spec.fallback_price,
        "sort_order": spec.sort_order,
    }
    if tier is None:
        tier = Tier(key=spec.key, retired=False, **values)
        session.add(tier)
        changes.append(f"+ tier {spec.key}")
    else:
        if tier.retired:
            tier.retired = False
            changes.append(f"unretire tier {spec.key}")
        for name in _TIER_FIELDS:
            old, new = getattr(tier, name), values[name]
            if old != new:
                changes.append(f"~ tier {spec.key}: {name} {_show(old)} -> {_show(new)}")
                setattr(tier, name, new)
    _sync_grants(tier, spec, features, changes)
    return tier


def _sync_grants(
    tier: Tier, spec: TierSpec, features: dict[str, Feature], changes: list[str]
) -> None:
    wanted: dict[str, Grant] = {key: (None, LimitPeriod.NONE.value) for key in spec.features}
    for key, limit_spec in spec.limits.items():
        wanted[key] = (limit_spec.limit, LimitPeriod(limit_spec.period).value)
    current = {grant.feature.key: grant for grant in tier.features}
    for key, grant in sorted(current.items()):
        if key not in wanted:
            tier.features.remove(grant)
            changes.append(f"- grant {spec.key}: {_grant(key, _grant_of(grant))}")
    for key, (limit, period) in wanted.items():
        existing = current.get(key)
        if existing is None:
            tier.features.append(
                TierFeature(feature=features[key], limit_value=limit, period=period)
            )
            changes.append(f"+ grant {spec.key}: {_grant(key, (limit, period))}")
        elif _grant_of(existing) != (limit, period):
            old = _grant(key, _grant_of(existing))
            changes.append(f"~ grant {spec.key}: {old} -> {_grant(key, (limit, period))}")
            existing.limit_value, existing.period = limit, period


def _sync_links(
    session: Session, catalog: Catalog, tiers: dict[str, Tier], changes: list[str]
) -> None:
    wanted = {
        (provider, external): spec.key
        for spec in catalog.tiers.values()
        for provider, keys in spec.providers.items()
        for external in keys
    }
    existing = sorted(
        (link for tier in tiers.values() for link in tier.provider_links),
        key=lambda link: (link.provider, link.external_key),
    )
    found: set[tuple[str, str]] = set()
    for link in existing:
        name = f"{link.provider}:{link.external_key}"
        owner = link.tier
        target = wanted.get((link.provider, link.external_key))
        if target is not None:
            found.add((link.provider, link.external_key))
            if target != owner.key:
                # Move the row rather than delete and insert: the pair is unique. Through the
                # relationship, so deleting the old tier later does not cascade to it.
                link.tier = tiers[target]
                changes.append(f"~ link {name}: {owner.key} -> {target}")
        elif owner.key in catalog.tiers:
            owner.provider_links.remove(link)
            changes.append(f"- link {name} -> {owner.key}")
        # Else its tier left the file: a retired tier keeps its links for late webhooks.
    # Removals first: MariaDB compares keys case-insensitively, so a key whose case changed
    # would otherwise collide with its old row.
    session.flush()
    for (provider, external), key in wanted.items():
        if (provider, external) not in found:
            link = TierProviderLink(provider=provider, external_key=external)
            tiers[key].provider_links.append(link)
            changes.append(f"+ link {provider}:{external} -> {key}")


def _remove_missing_tiers(
    session: Session, catalog: Catalog, tiers: dict[str, Tier], changes: list[str]
) -> None:
    gone = [tier for key, tier in sorted(tiers.items()) if key not in catalog.tiers]
    if not gone:
        return
    references = tier_references(session, [tier.id for tier in gone])
    for tier in gone:
        counts = references.get(tier.id, {})
        if not counts:
            session.delete(tier)
            changes.append(f"- tier {tier.key}")
        elif not tier.retired:
            tier.retired = True
            changes.append(f"retire tier {tier.key} ({_describe(counts)})")


def _remove_unused_features(
    session: Session, catalog: Catalog, features: dict[str, Feature], changes: list[str]
) -> None:
    wanted = _wanted_features(catalog)
    granted = set(session.scalars(select(TierFeature.feature_id).distinct()))
    for key, feature in sorted(features.items()):
        if key not in wanted and feature.id not in granted:
            session.delete(feature)
            changes.append(f"- feature {key}")


def tier_references(session: Session, tier_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """For each tier id, how many rows of which other table reference it.

    Found from the schema, so a table another domain adds later is respected without a change
    here. References that cascade (the tier's own features and links) do not count.
    """
    ids = list(tier_ids)
    counts: dict[int, dict[str, int]] = {}
    for label, column in _referencing_columns():
        rows = session.execute(
            select(column, func.count()).where(column.in_(ids)).group_by(column)
        ).all()
        for tier_id, count in rows:
            counts.setdefault(tier_id, {})[label] = count
    return counts


def _referencing_columns() -> list[tuple[str, ColumnElement[int]]]:
    tier_id = Tier.__table__.c.id
    found: list[tuple[str, ColumnElement[int]]] = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column is tier_id and (fk.ondelete or "").upper() != "CASCADE":
                found.append((table.name.removeprefix("tierline_"), fk.parent))
    return found


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(
        f"{count} {label}{'' if count == 1 else 's'}" for label, count in sorted(counts.items())
    )


def _grant_of(grant: TierFeature) -> Grant:
    return grant.limit_value, grant.period


def _grant(key: str, grant: Grant) -> str:
    limit, period = grant
    if limit is None:
        return key
    return f"{key} {limit}" if period == LimitPeriod.NONE.value else f"{key} {limit}/{period}"


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)
