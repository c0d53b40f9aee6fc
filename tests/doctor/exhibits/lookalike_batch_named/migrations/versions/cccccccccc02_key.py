from alembic import op
import sqlalchemy as sa

revision = 'cccccccccc02'
down_revision = 'cccccccccc01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(32), nullable=False, server_default=""))
        batch_op.alter_column("email", existing_type=sa.String(320), type_=sa.String(400))
        batch_op.create_unique_constraint(batch_op.f("uq_users_key"), ["key"])
        batch_op.create_index("ix_users_key", ["key"])
    op.create_index("ix_users_email", "users", ["email"])


def downgrade():
    op.drop_index("ix_users_email", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_key")
        batch_op.drop_constraint("uq_users_key", type_="unique")
        batch_op.alter_column("email", existing_type=sa.String(400), type_=sa.String(320))
        batch_op.drop_column("key")
