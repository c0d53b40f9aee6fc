"""Catalog use cases: sync the declared catalog to the database, list the tiers it holds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import selectinload

from tierline.catalog.config import CatalogError, check_catalog
from tierline.catalog.models import LimitPeriod, Tier
from tierline.catalog.spec import Catalog, LimitSpec
from tierline.catalog.sync import apply_catalog
from tierline.context import Context
from tierline.db.engine import first_line
from tierline.errors import DatabaseError, NotFoundError


@dataclass(frozen=True)
class SyncReport:
    """What a catalog sync changed (or, in a dry run, would change), one line per change."""

    changes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class TierInfo:
    """A tier as stored in the database.

    ``features`` lists every feature the tier grants, limited ones included; ``limits`` has the
    number and period of the limited ones. ``providers`` maps a provider to its external keys.
    """

    key: str
    name: str
    description: str | None
    seats: int
    customer_facing: bool
    exempt: bool
    fallback_price: str | None
    sort_order: int
    retired: bool
    features: tuple[str, ...]
    limits: dict[str, LimitSpec]
    providers: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, tier: Tier) -> TierInfo:
        providers: dict[str, list[str]] = {}
        for link in sorted(tier.provider_links, key=lambda x: (x.provider, x.external_key)):
            providers.setdefault(link.provider, []).append(link.external_key)
        return cls(
            key=tier.key,
            name=tier.name,
            description=tier.description,
            seats=tier.seats,
            customer_facing=tier.customer_facing,
            exempt=tier.exempt,
            fallback_price=tier.fallback_price,
            sort_order=tier.sort_order,
            retired=tier.retired,
            features=tuple(sorted(grant.feature.key for grant in tier.features)),
            limits={
                grant.feature.key: LimitSpec(grant.limit_value, LimitPeriod(grant.period))
                for grant in sorted(tier.features, key=lambda g: g.feature.key)
                if grant.limit_value is not None
            },
            providers={name: tuple(keys) for name, keys in providers.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used by ``catalog show --json``)."""
        return {
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "seats": self.seats,
            "customer_facing": self.customer_facing,
            "exempt": self.exempt,
            "fallback_price": self.fallback_price,
            "sort_order": self.sort_order,
            "retired": self.retired,
            "features": list(self.features),
            "limits": {
                key: {"limit": spec.limit, "period": LimitPeriod(spec.period).value}
                for key, spec in self.limits.items()
            },
            "providers": {name: list(keys) for name, keys in self.providers.items()},
        }


class CatalogService:
    """Sync the catalog to the database and read the tiers back."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def sync(self, catalog: Catalog, *, dry_run: bool = False) -> SyncReport:
        """Make the database's features, tiers, limits and provider links match ``catalog``.

        Idempotent and all-or-nothing (one transaction). A tier missing from the catalog is
        deleted when nothing references it, else retired; a retired tier that comes back is
        un-retired. ``dry_run`` reports the same changes and writes nothing.

        Raises:
            CatalogError: the catalog is invalid (nothing is changed).
            DatabaseError: the database is not migrated, or a concurrent write got in the way.
        """
        problems = check_catalog(catalog)
        if problems:
            raise CatalogError.of("passed to sync", problems)
        with _database_errors("sync the catalog"), self.ctx.sessions() as session:
            session.begin()
            try:
                changes = apply_catalog(session, catalog)
            except BaseException:
                session.rollback()
                raise
            if dry_run or not changes:
                session.rollback()
            else:
                # Tiers, features and limits feed every cached status, in every process.
                staged = self.ctx.changes.stage(session.connection(), (), everything=True)
                session.commit()
                self.ctx.changes.committed(staged)
        return SyncReport(changes=changes, dry_run=dry_run)

    def tiers(self, *, include_retired: bool = False) -> list[TierInfo]:
        """The tiers in the database, by sort order then key; retired ones only if asked."""
        query = select(Tier).options(selectinload(Tier.features), selectinload(Tier.provider_links))
        if not include_retired:
            query = query.where(Tier.retired.is_(False))
        with _database_errors("read the tiers"), self.ctx.sessions() as session:
            rows = session.scalars(query.order_by(Tier.sort_order, Tier.key)).all()
            return [TierInfo.of(row) for row in rows]

    def tier(self, key: str) -> TierInfo:
        """The tier keyed ``key`` (retired or not); raises :class:`NotFoundError`."""
        query = (
            select(Tier)
            .where(Tier.key == key)
            .options(selectinload(Tier.features), selectinload(Tier.provider_links))
        )
        with _database_errors("read the tier"), self.ctx.sessions() as session:
            row = session.scalars(query).one_or_none()
            if row is not None:
                return TierInfo.of(row)
            known = session.scalars(select(Tier.key).order_by(Tier.sort_order, Tier.key)).all()
        valid = ", ".join(known) if known else "none; run `tierline catalog sync`"
        raise NotFoundError(f"no tier {key!r}; tiers: {valid}")


@contextmanager
def _database_errors(action: str) -> Iterator[None]:
    """Driver errors as one-line :class:`DatabaseError` messages saying what to do."""
    try:
        yield
    except IntegrityError as exc:
        raise DatabaseError(
            f"cannot {action}: a concurrent write conflicted ({first_line(exc)}); nothing was "
            "changed, run it again"
        ) from exc
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseError(
            f"cannot {action}: {first_line(exc)}; if Tierline's tables are missing, run "
            "`tierline db upgrade`"
        ) from exc
