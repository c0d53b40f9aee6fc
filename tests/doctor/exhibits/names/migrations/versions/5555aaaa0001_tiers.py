from alembic import op
import sqlalchemy as sa

revision = '5555aaaa0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "subscription_tier",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(32), nullable=False, unique=True),  # expect: dialect-dependent-name
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("subscription_tier.id")),  # expect: dialect-dependent-name
        sa.Column("lookup_key", sa.String(128)),
        sa.UniqueConstraint("lookup_key"),  # expect: dialect-dependent-name
        sa.CheckConstraint("id > 0", name="ck_subscription_tier_id_positive"),
    )
    op.create_index(  # expect: identifier-too-long
        "ix_subscription_tier_lookup_key_and_owner_id_for_the_settings_page_query",
        "subscription_tier",
        ["lookup_key", "owner_id"],
    )


def downgrade():
    op.drop_index(
        "ix_subscription_tier_lookup_key_and_owner_id_for_the_settings_page_query",
        table_name="subscription_tier",
    )
    op.drop_table("subscription_tier")
