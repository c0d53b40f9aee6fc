"""Fix SubscriptionTier schema with explicit constraints

Revision ID: <NEW_REVISION_ID_HERE>
Revises: clean_subscription_tier_billing
Create Date: 2025-08-18 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '<NEW_REVISION_ID_HERE>' # Paste the new ID here  # expect: broken-revision-link
down_revision = 'clean_subscription_tier_billing' # This should be the hash of the migration before this one
branch_labels = None
depends_on = None


def upgrade():
    # Use batch mode for SQLite compatibility
    with op.batch_alter_table('subscription_tier', schema=None) as batch_op:
        # Add new, correct columns with server defaults
        batch_op.add_column(sa.Column('user_limit', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('is_customer_facing', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('is_billing_exempt', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('whop_product_key', sa.String(length=128), nullable=True))

        # Ensure core columns have the correct type and constraints
        batch_op.alter_column('name', existing_type=sa.TEXT(), type_=sa.String(length=64), nullable=False)
        batch_op.alter_column('key', existing_type=sa.TEXT(), type_=sa.String(length=32), nullable=False)
        batch_op.alter_column('stripe_lookup_key', existing_type=sa.TEXT(), type_=sa.String(128), nullable=True)

        # Explicitly create named unique constraints
        batch_op.create_unique_constraint('uq_subscription_tier_key', ['key'])
        batch_op.create_unique_constraint('uq_subscription_tier_stripe_lookup_key', ['stripe_lookup_key'])
        batch_op.create_unique_constraint('uq_subscription_tier_whop_product_key', ['whop_product_key'])

        # Create the index for the boolean flag
        batch_op.create_index(batch_op.f('ix_subscription_tier_is_billing_exempt'), ['is_billing_exempt'], unique=False)

        # Drop all the old, legacy columns
        batch_op.drop_column('max_users')
        batch_op.drop_column('stripe_price_id_yearly')
        batch_op.drop_column('stripe_price_id_monthly')
        # This column might have been created by a faulty migration, drop if it exists
        try:  # expect: try-in-batch
            batch_op.drop_column('tier_key')
        except Exception:
            pass


def downgrade():  # expect: irreversible-downgrade
    # A simple downgrade is often better than a complex one.
    # This indicates that downgrading past this point is a significant change.
    pass
