from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '3b4c5d6e7f8a'  # expect: multiple-heads
down_revision = '1f2e3d4c5b6a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("billing_snapshot", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table("billing_snapshot")
