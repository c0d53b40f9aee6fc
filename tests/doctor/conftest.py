"""The exhibits are host apps' files to read, not tests to collect (their conftest imports
an app)."""

collect_ignore = ["exhibits"]
