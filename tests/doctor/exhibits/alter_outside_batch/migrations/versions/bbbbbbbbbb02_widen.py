from alembic import op
import sqlalchemy as sa

revision = 'bbbbbbbbbb02'
down_revision = 'bbbbbbbbbb01'
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("users", "email", type_=sa.String(400))  # expect: alter-outside-batch
    op.create_unique_constraint("uq_users_id_email", "users", ["id", "email"])  # expect: alter-outside-batch
    op.add_column("users", sa.Column("team_id", sa.Integer(), nullable=True))
    op.create_foreign_key(  # expect: alter-outside-batch
        "fk_users_team_id_users", "users", "users", ["team_id"], ["id"]
    )


def downgrade():
    op.drop_constraint("fk_users_team_id_users", "users", type_="foreignkey")  # expect: alter-outside-batch
    op.drop_column("users", "team_id")  # expect: alter-outside-batch
    op.drop_constraint("uq_users_id_email", "users", type_="unique")  # expect: alter-outside-batch
    op.alter_column("users", "email", type_=sa.String(320))  # expect: alter-outside-batch
