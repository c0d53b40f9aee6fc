"""quotes

Revision ID: 1a2b3c4d5e6f
Revises:
Create Date: 2026-03-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e6f'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "quotes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quotes"),
    )


def downgrade():
    op.drop_table("quotes")
