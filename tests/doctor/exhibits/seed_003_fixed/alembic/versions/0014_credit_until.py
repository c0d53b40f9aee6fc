from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("credit_until", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as bop:
        bop.drop_column("credit_until")
