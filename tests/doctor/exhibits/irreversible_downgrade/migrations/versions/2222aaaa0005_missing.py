from alembic import op
import sqlalchemy as sa

revision = '2222aaaa0005'
down_revision = '2222aaaa0004'
branch_labels = None
depends_on = None


def upgrade():  # expect: irreversible-downgrade
    op.create_table("prices", sa.Column("id", sa.Integer(), primary_key=True))
