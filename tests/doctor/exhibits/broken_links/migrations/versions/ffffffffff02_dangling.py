from alembic import op
import sqlalchemy as sa

revision = 'ffffffffff02'
down_revision = '0123456789ab'  # expect: broken-revision-link
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_users_email", "users", ["email"])


def downgrade():
    op.drop_index("ix_users_email", table_name="users")
