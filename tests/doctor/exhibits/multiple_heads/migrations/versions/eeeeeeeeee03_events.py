from alembic import op
import sqlalchemy as sa

revision = 'eeeeeeeeee03'  # expect: multiple-heads
down_revision = 'eeeeeeeeee01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table("events")
