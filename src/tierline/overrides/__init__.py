"""Per-account overrides: an admin's grant of a feature or a different limit to one account."""
