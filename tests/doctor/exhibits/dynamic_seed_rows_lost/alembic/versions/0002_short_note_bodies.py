"""Shorten notes.body by recreating the table: runs everywhere, and loses every note."""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _notes(body):
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("body", body, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_notes_user_id_users"),
    )


def upgrade():
    op.drop_table("notes")
    _notes(sa.String(200))


def downgrade():
    op.drop_table("notes")
    _notes(sa.Text())
