from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("quotes") as bop:
        bop.alter_column("symbol", existing_type=sa.String(8), type_=sa.String(32))


def downgrade():
    with op.batch_alter_table("quotes") as bop:
        bop.alter_column("symbol", existing_type=sa.String(32), type_=sa.String(8))
