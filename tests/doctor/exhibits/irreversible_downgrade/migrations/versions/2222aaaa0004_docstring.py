from alembic import op
import sqlalchemy as sa

revision = '2222aaaa0004'
down_revision = '2222aaaa0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("plans", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():  # expect: irreversible-downgrade
    """Nothing to do."""
