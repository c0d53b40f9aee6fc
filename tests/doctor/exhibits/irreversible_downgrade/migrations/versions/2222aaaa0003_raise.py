from alembic import op
import sqlalchemy as sa

revision = '2222aaaa0003'
down_revision = '2222aaaa0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():
    """Downgrading past this point loses data."""
    raise NotImplementedError("no way back")  # expect: irreversible-downgrade
