from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'clean_subscription_tier_billing'
down_revision = '0a1b2c3d4e5f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("subscription_tier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("billing_provider", sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table("subscription_tier", schema=None) as batch_op:
        batch_op.drop_column("billing_provider")
