from alembic import op
import sqlalchemy as sa

revision = 'ffffffffff02'  # expect: broken-revision-link broken-revision-link
down_revision = 'ffffffffff01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("teams", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table("teams")
