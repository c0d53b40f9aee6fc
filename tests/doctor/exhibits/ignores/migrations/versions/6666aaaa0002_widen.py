from alembic import op
import sqlalchemy as sa

revision = '6666aaaa0002'
down_revision = '6666aaaa0001'
branch_labels = None
depends_on = None


def upgrade():
    # doctor: ignore[alter-outside-batch] because this app only ever runs on PostgreSQL
    op.alter_column("users", "email", type_=sa.String(400))
    op.alter_column("users", "id", existing_type=sa.Integer())  # doctor: ignore[alter-outside-batch]  # expect: invalid-ignore alter-outside-batch
    op.create_index("ix_users_email", "users", ["email"])  # doctor: ignore[no-such-rule] because a typo  # expect: invalid-ignore


def downgrade():
    op.drop_index("ix_users_email", table_name="users")
    op.alter_column("users", "email", type_=sa.String(320))  # doctor: ignore[alter-outside-batch] because PostgreSQL only
