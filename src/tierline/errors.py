"""The one error hierarchy Tierline raises.

Every message names the bad value and, where there is a closed set, what would be valid, so the
CLI and the web adapters can show it to a person as it is.
"""

from __future__ import annotations


class TierlineError(Exception):
    """Base class of every error Tierline raises on purpose."""


class ConfigurationError(TierlineError):
    """A setting, URL or catalog file is missing or malformed."""


class DatabaseError(TierlineError):
    """The database cannot be reached or is not in the expected state."""


class InvalidDatabaseURLError(DatabaseError, ConfigurationError):
    """The database URL cannot be parsed or names an unknown driver."""


class DatabaseUnreachableError(DatabaseError):
    """The database server refused or did not answer the connection."""


class NotFoundError(TierlineError):
    """A referenced row (account, tier, event...) does not exist."""


class ValidationError(TierlineError):
    """Input was well-formed but not acceptable (negative days, bad code...)."""


class ProviderAPIError(TierlineError):
    """A billing provider's API refused a call or could not be reached."""


class SeatsExhaustedError(TierlineError):
    """Every seat of the account is taken (or more are assigned than it now has)."""

    def __init__(self, message: str, *, limit: int, assigned: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.assigned = assigned
