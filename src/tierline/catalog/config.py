"""Reading ``tierline.toml`` into a :class:`~tierline.catalog.spec.Catalog` (skeleton)."""

from __future__ import annotations

from pathlib import Path

from tierline.catalog.spec import Catalog


def load_catalog(path: Path) -> Catalog:
    """Parse the catalog file at ``path``."""
    raise NotImplementedError("being written")  # skeleton: replaced by the catalog work
