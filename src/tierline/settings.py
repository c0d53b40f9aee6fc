"""Settings read from the environment (``TIERLINE_*``) or given in code."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from tierline.db.engine import DEFAULT_DATABASE_URL


class TierlineSettings(BaseSettings):
    """Every setting Tierline reads; each can be set as ``TIERLINE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="TIERLINE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
