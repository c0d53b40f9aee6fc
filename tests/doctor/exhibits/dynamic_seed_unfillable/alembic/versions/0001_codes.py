"""A CHECK the seeder's values cannot meet: the table is skipped with a warning."""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "currencies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(3), nullable=False),
        sa.CheckConstraint("length(code) = 3", name="ck_currencies_code_length"),
    )


def downgrade():
    op.drop_table("currencies")
