from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("teams", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():  # expect: irreversible-downgrade
    pass
