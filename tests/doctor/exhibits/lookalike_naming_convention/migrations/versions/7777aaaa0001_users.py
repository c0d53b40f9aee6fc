"""Look-alike: the naming convention on target_metadata names the None constraint on create."""
from alembic import op
import sqlalchemy as sa

revision = "7777aaaa0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(32), nullable=True),
    )
    with op.batch_alter_table("users") as batch_op:
        batch_op.create_unique_constraint(None, ["key"])


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(None, type_="unique")  # expect: unnamed-constraint
    op.drop_table("users")
