"""Not a revision: Alembic loads every .py file here and fails on this one."""  # expect: broken-revision-link

NOTES = "helpers do not belong in versions/"
