"""Shorten notes.body in batch mode (the rows are copied) and add a nullable column."""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notes") as batch_op:
        batch_op.alter_column("body", type_=sa.String(200), existing_nullable=False)
        batch_op.add_column(sa.Column("pinned", sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table("notes") as batch_op:
        batch_op.drop_column("pinned")
        batch_op.alter_column("body", type_=sa.Text(), existing_nullable=False)
