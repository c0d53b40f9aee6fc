"""The ``tierline`` command line."""

from __future__ import annotations

from tierline.cli.app import app, main

__all__ = ["app", "main"]
