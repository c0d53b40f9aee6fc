from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0a1b2c3d4e5f'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "subscription_tier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.TEXT(), nullable=True),
        sa.Column("key", sa.TEXT(), nullable=True),
        sa.Column("stripe_lookup_key", sa.TEXT(), nullable=True),
        sa.Column("stripe_price_id_monthly", sa.String(length=128), nullable=True),
        sa.Column("stripe_price_id_yearly", sa.String(length=128), nullable=True),
        sa.Column("max_users", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_subscription_tier"),
    )


def downgrade():
    op.drop_table("subscription_tier")
