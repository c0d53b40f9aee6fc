from alembic import op
import sqlalchemy as sa

revision = "ffffffffff04"
down_revision = "<put the current head here>"  # expect: broken-revision-link
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table("events")
