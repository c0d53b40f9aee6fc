from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("referral_code", sa.String(8), nullable=True))
    op.create_unique_constraint("uq_users_referral_code", "users", ["referral_code"])  # expect: alter-outside-batch
    op.add_column("users", sa.Column("referred_by_user_id", sa.Integer(), nullable=True))
    op.create_foreign_key(  # expect: alter-outside-batch
        "fk_users_referred_by_user_id_users", "users", "users", ["referred_by_user_id"], ["id"]
    )


def downgrade():
    op.drop_constraint("fk_users_referred_by_user_id_users", "users", type_="foreignkey")  # expect: alter-outside-batch
    op.drop_column("users", "referred_by_user_id")  # expect: alter-outside-batch
    op.drop_constraint("uq_users_referral_code", "users", type_="unique")  # expect: alter-outside-batch
    op.drop_column("users", "referral_code")  # expect: alter-outside-batch
