"""The example Flask app: tiers with permissions and a seat limit; see ``app.py``."""

from __future__ import annotations

from .app import CATALOG_PATH, create_app, current_account

__all__ = ["CATALOG_PATH", "create_app", "current_account"]
