"""The example FastAPI app (what ``tierline demo`` serves); see ``app.py``."""

from __future__ import annotations

from .app import CATALOG_PATH, create_app, current_account

__all__ = ["CATALOG_PATH", "create_app", "current_account"]
