"""widen quotes.symbol

Revision ID: 2b3c4d5e6f7a
Revises: 1a2b3c4d5e6f
Create Date: 2026-03-09 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2b3c4d5e6f7a'
down_revision = '1a2b3c4d5e6f'
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("quotes", "symbol", existing_type=sa.String(length=8), type_=sa.String(length=16), existing_nullable=False)  # expect: alter-outside-batch


def downgrade():
    op.alter_column("quotes", "symbol", existing_type=sa.String(length=16), type_=sa.String(length=8), existing_nullable=False)  # expect: alter-outside-batch
