from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as bop:
        bop.add_column(sa.Column("referral_code", sa.String(8), nullable=True))
        bop.create_unique_constraint("uq_users_referral_code", ["referral_code"])
        bop.add_column(sa.Column("referred_by_user_id", sa.Integer(), nullable=True))
        bop.create_foreign_key(
            "fk_users_referred_by_user_id_users", "users", ["referred_by_user_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("users") as bop:
        bop.drop_constraint("fk_users_referred_by_user_id_users", type_="foreignkey")
        bop.drop_column("referred_by_user_id")
        bop.drop_constraint("uq_users_referral_code", type_="unique")
        bop.drop_column("referral_code")
