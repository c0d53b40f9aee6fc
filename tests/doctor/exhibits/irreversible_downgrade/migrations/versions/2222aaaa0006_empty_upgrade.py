from alembic import op
import sqlalchemy as sa

revision = '2222aaaa0006'
down_revision = '2222aaaa0005'
branch_labels = None
depends_on = None


def upgrade():
    """A revision kept as a marker: nothing to undo (look-alike)."""
    pass


def downgrade():
    pass
