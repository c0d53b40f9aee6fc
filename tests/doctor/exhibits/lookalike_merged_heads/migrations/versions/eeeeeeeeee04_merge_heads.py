"""merge heads"""
from alembic import op
import sqlalchemy as sa

revision = "eeeeeeeeee04"
down_revision = ("eeeeeeeeee02", "eeeeeeeeee03")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
