from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("quotes", "symbol", existing_type=sa.String(8), type_=sa.String(32))  # expect: alter-outside-batch


def downgrade():
    op.alter_column("quotes", "symbol", existing_type=sa.String(32), type_=sa.String(8))  # expect: alter-outside-batch
