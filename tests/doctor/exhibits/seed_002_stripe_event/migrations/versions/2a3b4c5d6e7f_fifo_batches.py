from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '2a3b4c5d6e7f'  # expect: multiple-heads
down_revision = '1f2e3d4c5b6a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("fifo_batch", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table("fifo_batch")
