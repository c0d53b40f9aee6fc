from alembic import op
import sqlalchemy as sa

revision = 'eeeeeeeeee02'
down_revision = 'eeeeeeeeee01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("teams", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table("teams")
